"""Stay awake while work is in progress, for callers that only know how many jobs are running right now.

A server sees many short requests (one per chunk); taking and releasing a lock for each would be wasteful, so
the lock is taken at the first job and released only after ``grace`` seconds with none. The lock is taken
and released on a thread of its own, so ``update`` never blocks the caller's event loop.
"""

from __future__ import annotations

import logging
import threading
import time

from codecalamity.awake.lock import keep_awake

logger = logging.getLogger(__name__)


class AwakeWhileBusy:
    """Hold a keep-awake lock while ``update`` reports work, and ``grace`` seconds after it stops.

    Parameters
    ----------
    reason
        Shown by the operating system.
    grace
        Seconds without work before the lock is released.
    """

    def __init__(self, reason: str, grace: float = 30.0) -> None:
        self.reason = reason
        self.grace = grace
        self.method: str | None = None
        self._active = 0
        self._idle_since = time.monotonic()
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="calamity-awake", daemon=True)
        self._thread.start()

    def update(self, active: int) -> None:
        """Report how many jobs are running now (never blocks)."""
        with self._cond:
            if active == 0 and self._active > 0:
                self._idle_since = time.monotonic()
            self._active = active
            self._cond.notify()

    def close(self) -> None:
        """Release the lock, if held, and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        holder: keep_awake | None = None
        try:
            while True:
                with self._cond:
                    take = self._next_action(holder is not None)
                    if take is None:
                        return
                if take:
                    holder = keep_awake(reason=self.reason)
                    self.method = holder.__enter__().method
                elif holder is not None:
                    holder.release()
                    holder, self.method = None, None
        finally:
            if holder is not None:
                holder.release()

    def _next_action(self, holding: bool) -> bool | None:
        """Wait (condition held) until there is something to do: True take, False release, None stop."""
        while not self._closed:
            if self._active > 0 and not holding:
                return True
            if self._active == 0 and holding:
                remaining = self._idle_since + self.grace - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            else:
                self._cond.wait()
        return None
