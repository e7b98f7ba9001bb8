"""``calamity awake``: keep the computer awake until Ctrl+C, for a time, or while a command runs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from codecalamity._util.durations import format_duration, parse_duration
from codecalamity._util.output import print_json

if TYPE_CHECKING:
    from codecalamity.awake.lock import Lock


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
@click.option("--until", "until", default=None, metavar="HH:MM[:SS]", help="Stay awake until this local time.")
@click.option(
    "--pid",
    "pids",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="PID",
    help="Stay awake while this process runs (repeat for several: while any runs).",
)
@click.option("--display", is_flag=True, help="Keep the screen on too.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when no method can keep the computer awake.")
@click.option("--json", "as_json", is_flag=True, help="Print the method used and every attempt as JSON.")
@click.option("--reason", default=None, help="Reason shown by the system (default: the command or 'calamity awake').")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def awake(
    ctx: click.Context,
    duration: str | None,
    until: str | None,
    pids: tuple[int, ...],
    display: bool,
    strict: bool,
    as_json: bool,
    reason: str | None,
    command: tuple[str, ...],
) -> None:
    """Keep the computer awake: until Ctrl+C, for --for, until --until, while --pid runs, or while COMMAND runs.

    With several of --for, --until and --pid, the first to end wins.

    \b
    calamity awake                      until Ctrl+C
    calamity awake --for 2h30m          for a while
    calamity awake --until 07:00        until the clock shows 07:00 (tomorrow, if already past today)
    calamity awake --pid 4242           while process 4242 runs
    calamity awake -- make backup       while a command runs; exits with its exit code
    """
    from codecalamity.awake.child import run_awake
    from codecalamity.awake.clock import next_time
    from codecalamity.awake.stay import stay_awake

    seconds = parse_duration(duration) if duration is not None else None
    if command and (seconds is not None or until is not None or pids):
        raise click.UsageError("give --for, --until or --pid, or a COMMAND, not both")
    why = reason or (" ".join(command) if command else "calamity awake")
    if command:
        code, lock = run_awake(command, display=display, reason=why, strict=strict)
        if as_json:
            print_json({**_lock_json(lock), "exit_code": code})  # type: ignore[dict-item]
        ctx.exit(code)
    deadline = next_time(until) if until is not None else None
    if not reason and (pids or deadline):
        why += "".join(f" --pid {pid}" for pid in pids) + (f" --until {until}" if until else "")

    def announce(lock: Lock) -> None:
        if as_json:
            until_text = deadline.isoformat() if deadline else None
            print_json({**_lock_json(lock), "pids": list(pids), "until": until_text, "for_seconds": seconds})  # type: ignore[dict-item]
        elif not lock.active:
            click.echo(f"warning: {lock.summary()}; going on", err=True)
        else:
            click.echo(lock.summary() + _ends(pids, deadline, seconds), err=True)
            if seconds is None and deadline is None and not pids:
                click.echo("Press Ctrl+C to let the computer sleep again.", err=True)

    try:
        stay_awake(pids, deadline, seconds, display=display, reason=why, strict=strict, on_lock=announce)
    except KeyboardInterrupt:
        click.echo("released", err=True)


def _ends(pids: tuple[int, ...], deadline: datetime | None, seconds: float | None) -> str:
    """`` while PID 42 runs, until 07:00:00 tomorrow, for at most 2h``: when the wait ends, in words."""
    parts = []
    if pids:
        parts.append(
            f"while PID {pids[0]} runs" if len(pids) == 1 else f"while any of PIDs {', '.join(map(str, pids))} runs"
        )
    if deadline is not None:
        day = deadline.date() - datetime.now(deadline.tzinfo).date()
        parts.append(f"until {deadline:%H:%M:%S}" + {0: "", 1: " tomorrow"}.get(day.days, f" on {deadline:%Y-%m-%d}"))
    if seconds is not None:
        parts.append(("for at most " if parts else "for ") + format_duration(seconds))
    return (" " + ", ".join(parts)) if parts else ""
