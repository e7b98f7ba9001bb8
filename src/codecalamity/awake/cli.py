"""``calamity awake``: keep the computer awake until Ctrl+C, for a time, or while a command runs."""

from __future__ import annotations

import threading
import time

import click

from codecalamity._util.durations import format_duration, parse_duration
from codecalamity._util.output import print_json


def _lock_json(lock: object) -> object:
    from codecalamity.awake.lock import Lock

    assert isinstance(lock, Lock)
    return {
        "active": lock.active,
        "method": lock.method,
        "display": lock.display,
        "reason": lock.reason,
        "attempts": [a.__dict__ for a in lock.attempts],
    }


@click.command("awake", context_settings={"ignore_unknown_options": False})
@click.option("--for", "duration", default=None, help="Stay awake this long (90s, 30m, 2h30m), then exit.")
@click.option("--display", is_flag=True, help="Keep the screen on too.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when no method can keep the computer awake.")
@click.option("--json", "as_json", is_flag=True, help="Print the method used and every attempt as JSON.")
@click.option("--reason", default=None, help="Reason shown by the system (default: the command or 'calamity awake').")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def awake(
    ctx: click.Context,
    duration: str | None,
    display: bool,
    strict: bool,
    as_json: bool,
    reason: str | None,
    command: tuple[str, ...],
) -> None:
    """Keep the computer awake: until Ctrl+C, for --for, or while COMMAND runs.

    \b
    calamity awake                      until Ctrl+C
    calamity awake --for 2h30m          for a while
    calamity awake -- make backup       while a command runs; exits with its exit code
    """
    from codecalamity.awake.child import run_awake
    from codecalamity.awake.lock import keep_awake

    seconds = parse_duration(duration) if duration is not None else None
    if command and seconds is not None:
        raise click.UsageError("give either --for or a COMMAND, not both")
    why = reason or (" ".join(command) if command else "calamity awake")
    if command:
        code, lock = run_awake(command, display=display, reason=why, strict=strict)
        if as_json:
            print_json({**_lock_json(lock), "exit_code": code})  # type: ignore[dict-item]
        ctx.exit(code)
    with keep_awake(display=display, reason=why, strict=strict, warn=False) as lock:
        if as_json:
            print_json(_lock_json(lock))
        elif not lock.active:
            click.echo(f"warning: {lock.summary()}; going on", err=True)
        else:
            click.echo(lock.summary() + (f" for {format_duration(seconds)}" if seconds is not None else ""), err=True)
            if seconds is None:
                click.echo("Press Ctrl+C to let the computer sleep again.", err=True)
        _wait(seconds)


def _wait(seconds: float | None) -> None:
    stop = threading.Event()
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            stop.wait(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        click.echo("released", err=True)
