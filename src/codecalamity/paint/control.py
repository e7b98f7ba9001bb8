"""The closed-loop duty cycle one worker runs: busy and idle within short periods so its core shows the target.

Two loops, one inside the other.

- Inside, every period (about 50 ms) the worker asks for ``share x period`` seconds of its *own CPU time*
  (``time.thread_time``, exact), burning square roots until it has them, then sleeps to the end of the period.
  Its own overhead (clock reads, the sleep call) is counted, and a small carry corrects what a period missed.
- Outside (the default), ``share = target - background``: the load every other program puts on the core, estimated
  as the core's total busy time (what the monitor reads, see ``sensor``) minus our own CPU time, over a sliding
  window of about a second. That is feed-forward on a measured disturbance, so a new column takes effect in the
  next period, without waiting for the coarse counters. It is also the integral correction on the total: whatever
  the monitor counts that we did not burn (the OS's tick sampling of our own time, our own overhead) lands in the
  estimate and is subtracted. Where the background alone is above the target the worker idles: it cannot go lower.

With ``own_share`` the outer loop is off: the worker holds its own CPU time at the target and others add on top.
Each period's length is jittered by +-25 %, so the busy phases never lock onto the OS's timer tick (which would
bias a tick-sampled monitor by up to one tick per period).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from codecalamity.paint.sensor import CoreClock

PERIOD = 0.05
# Mean seconds per busy/idle cycle: short enough that a 1 s sample of any monitor sees a steady load.
JITTER = 0.25
# Each period lasts ``PERIOD x (1 +- JITTER)``, drawn at random, so busy phases do not lock onto the timer tick.
WINDOW = 1.0
# Seconds of history in the background estimate: about one monitor sample. At HZ=250 tick accounting the estimate
# has about 1 point of noise at 1 s; a longer window is smoother but follows a changing background more slowly.
SETTLE = 0.6
# Seconds each worker measures its idle core before it starts, so the first column already knows the background.
MAX_CARRY = 0.5
# Own-share mode: at most this many extra periods of missed CPU time are owed (the core may be saturated).
TOTAL_CARRY = 0.1
# Total mode: only rounding is carried. Time lost to a burst of background already showed as load on the core.
BURST = 2000
# Square roots between clock reads (a few tens of microseconds of work).


@dataclass(frozen=True)
class Held:
    """What a run achieved: mean loads in percent over the run (None where no core counter was available)."""

    own: float
    total: float | None
    background: float | None


@dataclass
class Reading:
    """The latest view of one period, for a live display: all in percent."""

    target: float
    total: float
    background: float
    share: float


class Background:
    """Load the rest of the system puts on our core: total busy minus our own CPU time, over a sliding window."""

    def __init__(self, clock: CoreClock, window: float = WINDOW) -> None:
        self.clock = clock
        self.window = window
        self._samples: deque[tuple[float, float, float]] = deque()

    def sample(self, now: float, own: float) -> None:
        """Record the core's busy time and our own CPU time at ``now``; forget what left the window."""
        self._samples.append((now, self.clock.busy(), own))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def shares(self) -> tuple[float, float]:
        """(background, total) busy shares (0-1) over the window; (0, 0) before two samples."""
        if len(self._samples) < 2:
            return 0.0, 0.0
        (t0, busy0, own0), (t1, busy1, own1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return 0.0, 0.0
        total = (busy1 - busy0) / (t1 - t0)
        return max(0.0, total - (own1 - own0) / (t1 - t0)), total


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


def settle(background: Background, until: float, stop: Callable[[], bool] = lambda: False) -> None:
    """Sample the idle core until the monotonic time ``until``: the background estimate's first window."""
    while not stop():
        now = time.monotonic()
        background.sample(now, time.thread_time())
        if now >= until:
            return
        time.sleep(min(PERIOD, until - now))


def hold(
    target_at: Callable[[float], float],
    duration: float,
    stop: Callable[[], bool] = lambda: False,
    background: Background | None = None,
    own_share: bool = False,
    on_period: Callable[[Reading], None] | None = None,
    column_seconds: float | None = None,
) -> Held:
    """Hold the load ``target_at(elapsed)`` (percent) on this thread's core for ``duration`` seconds.

    Parameters
    ----------
    target_at
        The target in percent, from the seconds elapsed since the start.
    duration
        Seconds to run.
    stop
        Polled every period; True ends the run early.
    background
        The estimate on the core's busy-time counter (``sensor.open_clock``), already ``settle``-d where the first
        column matters. Without one the loop holds its own share.
    own_share
        Hold our own CPU time at the target and let other programs add on top (the total is still measured).
    on_period
        Called after each period with the latest ``Reading`` (for a live display).
    column_seconds
        Where the target changes (every so many seconds): no period straddles a change, so a new column shows at
        once instead of half a period late.

    Returns
    -------
    Held
        The mean own, total and background loads over the run.
    """
    clock = background.clock if background is not None else None
    follow_total = background is not None and not own_share
    carry = (TOTAL_CARRY if follow_total else MAX_CARRY) * PERIOD
    start = time.monotonic()
    cpu_start = mark_cpu = time.thread_time()
    busy_start = clock.busy() if clock is not None else 0.0
    next_tick = mark_wall = start
    level, owed, bg, total = -1.0, 0.0, 0.0, 0.0
    while not stop():
        now = time.monotonic()
        elapsed = now - start
        if elapsed >= duration:
            break
        target = min(100.0, max(0.0, target_at(elapsed))) / 100.0
        next_tick = max(next_tick + PERIOD * (1.0 + JITTER * (2.0 * random.random() - 1.0)), now)
        if column_seconds:
            next_tick = min(next_tick, start + (elapsed // column_seconds + 1.0) * column_seconds)
        cpu = time.thread_time()
        if background is not None:
            background.sample(now, cpu)
            bg, total = background.shares()
        share = target if not follow_total or target >= 1.0 else min(1.0, max(0.0, target - bg))
        if target != level:  # a new column: start a new account
            level, owed, mark_wall, mark_cpu = target, 0.0, now, cpu
        owed += share * (next_tick - mark_wall) - (cpu - mark_cpu)
        mark_wall, mark_cpu = next_tick, cpu
        owed = max(-carry, min(owed, share * (next_tick - now) + carry))  # forgive what cannot be made up
        if owed > 0:
            burn(owed, next_tick)
        if on_period is not None:
            on_period(Reading(target * 100.0, total * 100.0, bg * 100.0, share * 100.0))
        pause = next_tick - time.monotonic()
        if pause > 0 and share < 1.0:
            time.sleep(pause)
    wall = time.monotonic() - start
    if wall <= 0:
        return Held(0.0, None, None)
    own = 100.0 * (time.thread_time() - cpu_start) / wall
    if clock is None:
        return Held(own, None, None)
    total_run = 100.0 * (clock.busy() - busy_start) / wall
    return Held(own, total_run, max(0.0, total_run - own))
