"""Run a command while the computer is kept awake; exit with its code; pass signals on to it."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from codecalamity._errors import UsageError
from codecalamity.awake.lock import Attempt, AwakeError, Lock, keep_awake

logger = logging.getLogger(__name__)
SYSTEMD_INHIBIT_ARGS = ("--what=sleep:idle", "--who=calamity", "--mode=block")


def systemd_inhibit_prefix(reason: str) -> tuple[list[str] | None, str]:
    """``systemd-inhibit ...`` to put before a command, when installed and logind grants it a lock right now.

    Returns the prefix (None when it cannot be used) and, when it cannot, why.
    """
    exe = shutil.which("systemd-inhibit")
    if exe is None:
        return None, "systemd-inhibit is not installed"
    prefix = [exe, *SYSTEMD_INHIBIT_ARGS, f"--why={reason}"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"systemd-inhibit did not run: {err}"
    if probe.returncode != 0:
        return None, probe.stderr.decode(errors="replace").strip().splitlines()[-1:][0] if probe.stderr else "refused"
    return prefix, ""


def _terminal_delivers_sigint() -> bool:
    # In a terminal's foreground group, Ctrl+C reaches the child directly: passing it on would send it twice.
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def run_awake(command: Sequence[str], *, display: bool, reason: str, strict: bool) -> tuple[int, Lock]:
    """Run ``command`` while awake; return its exit code (128+N when killed by signal N) and the lock used."""
    if not command:
        raise UsageError("no command given after --")
    with keep_awake(display=display, reason=reason, strict=False, warn=False) as lock:
        argv = list(command)
        if not lock.active:
            prefix, why = systemd_inhibit_prefix(reason)
            attempt = Attempt("systemd-inhibit", prefix is not None, None if prefix else "ACTIVATION", why)
            if prefix is not None:
                argv = [*prefix, *argv]
                lock = Lock("systemd-inhibit", (*lock.attempts, attempt), display, reason)
            else:
                lock = Lock(None, (*lock.attempts, attempt), display, reason)
        if strict and not lock.active:
            raise AwakeError(lock.summary())
        if not lock.active:
            logger.warning("%s; running the command anyway", lock.summary())
        try:
            proc = subprocess.Popen(argv)
        except FileNotFoundError:
            raise UsageError(f"command not found: {command[0]}") from None
        forward = [signal.SIGTERM, signal.SIGHUP]
        if not _terminal_delivers_sigint():
            forward.append(signal.SIGINT)

        def relay(signum: int, frame: FrameType | None) -> None:
            if proc.poll() is None:
                proc.send_signal(signum)

        previous = {sig: signal.signal(sig, relay) for sig in forward}
        ignored = signal.signal(signal.SIGINT, signal.SIG_IGN) if signal.SIGINT not in forward else None
        try:
            code = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if ignored is not None:
                signal.signal(signal.SIGINT, ignored)
    return (128 - code if code < 0 else code), lock
