"""Stay awake until something happens: other processes exit, some time passes, the clock shows a time.

Whichever comes first ends the wait. The clock is read again at least every ``SLICE`` seconds, so a wait for a
time of day stays right even if the computer slept anyway (the monotonic clock stops during sleep).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Literal

from codecalamity.awake.clock import next_time
from codecalamity.awake.lock import Lock, keep_awake
from codecalamity.awake.watch import PidWatch

Ended = Literal["pids", "for", "until"]
SLICE = 1.0  # longest wait between two looks at the clocks, in seconds


def wait_for(watch: PidWatch | None = None, seconds: float | None = None, until: datetime | None = None) -> Ended:
    """Block until the watched processes have all exited, ``seconds`` have passed or ``until`` has come.

    With none of them, blocks until interrupted (Ctrl+C raises ``KeyboardInterrupt`` as usual).

    Returns
    -------
    str
        What ended the wait: ``"pids"``, ``"for"`` or ``"until"``.
    """
    end_for = None if seconds is None else time.monotonic() + seconds
    end_until = None if until is None else until.timestamp()
    while True:
        step = SLICE
        if end_for is not None:
            if (left := end_for - time.monotonic()) <= 0:
                return "for"
            step = min(step, left)
        if end_until is not None:
            if (left := end_until - time.time()) <= 0:
                return "until"
            step = min(step, left)
        if watch is None:
            time.sleep(step)
        elif watch.wait(step):
            return "pids"


def stay_awake(
    pids: Iterable[int] = (),
    until: str | datetime | None = None,
    seconds: float | None = None,
    *,
    display: bool = False,
    reason: str = "calamity is working",
    strict: bool = False,
    on_lock: Callable[[Lock], object] | None = None,
) -> tuple[Lock, Ended]:
    """Keep the computer awake while any of ``pids`` runs, until ``until``, or for ``seconds``: the earliest wins.

    The blocking counterpart of :class:`~codecalamity.awake.keep_awake`, which holds the lock for a ``with``
    block instead.

    Parameters
    ----------
    pids
        Processes to follow: the lock is held while any of them runs.
    until
        ``"HH:MM[:SS]"`` (local time, the next such moment) or an aware datetime.
    seconds
        At most this long.
    display, reason, strict
        As for :class:`~codecalamity.awake.keep_awake`.
    on_lock
        Called with the lock once it is taken, before the wait.

    Returns
    -------
    tuple
        The lock (released by now) and what ended the wait (``"pids"`` at once when every process had already
        exited). With no ``pids``, ``until`` or ``seconds`` it waits until interrupted.

    Raises
    ------
    UsageError
        A PID that does not exist or cannot be watched, or a bad time of day; raised before the lock is taken.
    AwakeError
        With ``strict``, when no method can keep the computer awake.

    Examples
    --------
    >>> lock, ended = stay_awake(pids=[render.pid], until="07:00")  # doctest: +SKIP
    """
    deadline = next_time(until) if isinstance(until, str) else until
    watch = PidWatch(pids) if pids else None
    try:
        with keep_awake(display=display, reason=reason, strict=strict, warn=on_lock is None) as lock:
            if on_lock is not None:
                on_lock(lock)
            ended = wait_for(watch, seconds, deadline)
    finally:
        if watch is not None:
            watch.close()
    return lock, ended
