"""Wait for other processes, given by PID, to exit: without polling where the operating system allows.

One small class per facility (``linux``: pidfd, ``macos``: kqueue, ``windows``: process handles), and psutil
(``portable``) where none of them works. :func:`choose` picks the first that supports the platform and works.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from types import TracebackType

from codecalamity._errors import UsageError
from codecalamity.awake.watch.base import PLATFORM, CannotWatch, NoSuchProcess, PidWait
from codecalamity.awake.watch.linux import PidfdWait
from codecalamity.awake.watch.macos import KqueueWait
from codecalamity.awake.watch.portable import PsutilWait
from codecalamity.awake.watch.windows import WindowsWait

__all__ = ["BACKENDS", "CannotWatch", "NoSuchProcess", "PidWait", "PidWatch", "choose"]
logger = logging.getLogger(__name__)

# In order of preference; the psutil fallback supports every platform and comes last.
BACKENDS: tuple[type[PidWait], ...] = (PidfdWait, KqueueWait, WindowsWait, PsutilWait)


def choose(platform: str = PLATFORM) -> type[PidWait]:
    """The first way of waiting that supports ``platform`` and works on this machine."""
    for backend in BACKENDS:
        if backend.supported_platforms and platform not in backend.supported_platforms:
            continue
        why = backend.caniuse()
        if why is None:
            return backend
        logger.debug("not waiting with %s: %s", backend.name, why)
    return PsutilWait


class PidWatch:
    """The processes with the given PIDs, watched until all have exited; a context manager that closes handles.

    Every PID is checked and opened here, so a mistake shows before anything else is done.

    Parameters
    ----------
    pids
        The processes to watch (duplicates are ignored).
    backend
        The way of waiting (default: :func:`choose`).

    Raises
    ------
    UsageError
        A PID below 1 or this very process; :class:`NoSuchProcess`, :class:`CannotWatch` (both UsageErrors).

    Examples
    --------
    >>> with PidWatch([render.pid]) as watch, keep_awake():  # doctest: +SKIP
    ...     watch.wait()
    """

    def __init__(self, pids: Iterable[int], backend: type[PidWait] | None = None) -> None:
        self.pids = tuple(dict.fromkeys(pids))
        for pid in self.pids:
            if pid < 1:
                raise UsageError(f"not a process ID: {pid}")
            if pid == os.getpid():
                raise UsageError(f"PID {pid} is this calamity process itself: it would wait for ever")
        self._way = (backend or choose())()
        self.method = self._way.name
        self.running: set[int] = set()
        try:
            for pid in self.pids:
                if self._way.add(pid):
                    self.running.add(pid)
                else:
                    logger.info("PID %d has already exited", pid)
        except BaseException:
            self._way.close()
            raise

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every process has exited (True) or ``timeout`` seconds have passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            for pid in self._way.wait(left):
                logger.info("PID %d has exited", pid)
                self.running.discard(pid)
        return True

    def close(self) -> None:
        """Let go of the handles (idempotent)."""
        self._way.close()
        self.running.clear()

    def __enter__(self) -> PidWatch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
