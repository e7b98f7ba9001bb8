"""The closed-loop duty cycle one worker runs: busy and idle within short periods to hold a target load.

Each period the worker asks for ``target x period`` seconds of its *own CPU time* (``time.thread_time``),
burning square roots until it has them, then sleeps to the end of the period. What it did not get (another
process held the core) is carried into the next periods, so the load it achieves over a column is the target,
whatever the CPU's speed and whatever else runs. This replaces the tutorial's hand-tuned sleep table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

PERIOD = 0.05
# Seconds per busy/idle cycle: short enough that a 1 s sample of any monitor sees a steady load.
MAX_CARRY = 0.5
# At most this many extra periods of missed CPU time are owed (the core may simply be saturated).
BURST = 2000
# Square roots between clock reads (a few tens of microseconds of work).


def burn(seconds: float, deadline: float) -> float:
    """Busy the CPU until this thread has used ``seconds`` of CPU time or the monotonic ``deadline`` passes.

    Returns the CPU time actually used.
    """
    start = time.thread_time()
    goal = start + seconds
    x = 1.0
    while time.thread_time() < goal and time.monotonic() < deadline:
        for i in range(BURST):
            x = math.sqrt(x + i)
    return time.thread_time() - start


def hold(
    target_at: Callable[[float], float],
    duration: float,
    stop: Callable[[], bool] = lambda: False,
    on_period: Callable[[float, float, float], None] | None = None,
) -> float:
    """Hold the load ``target_at(elapsed)`` (percent) for ``duration`` seconds; return the mean achieved load.

    The loop is closed on the thread's total CPU time since the target last changed, so the controller's own
    overhead (clock reads, the sleep call) is counted and corrected too. ``on_period(elapsed, target,
    cpu_seconds)`` is called after each period (for reporting).
    """
    start = time.monotonic()
    cpu_start = time.thread_time()
    next_tick = start
    level = -1.0
    seg_wall = seg_cpu = 0.0
    while not stop():
        now = time.monotonic()
        elapsed = now - start
        if elapsed >= duration:
            break
        target = min(100.0, max(0.0, target_at(elapsed))) / 100.0
        next_tick = max(next_tick + PERIOD, now)  # never try to catch up on a period spent suspended
        if target != level:  # a new column: start a new account
            level, seg_wall, seg_cpu = target, now, time.thread_time()
        cpu_before = time.thread_time()
        owed = target * (next_tick - seg_wall) - (cpu_before - seg_cpu)
        cap = (1.0 + MAX_CARRY) * PERIOD
        if owed > cap:  # the core is saturated by others: forgive what cannot be made up
            seg_cpu -= owed - cap
            owed = cap
        if owed > 0:
            burn(owed, next_tick)
        if on_period is not None:
            on_period(elapsed, target * 100.0, time.thread_time() - cpu_before)
        pause = next_tick - time.monotonic()
        if pause > 0 and target < 1.0:
            time.sleep(pause)
    wall = time.monotonic() - start
    return 100.0 * (time.thread_time() - cpu_start) / wall if wall > 0 else 0.0
