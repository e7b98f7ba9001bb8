"""Anywhere else: psutil, asked every ``interval`` seconds whether each process still runs.

The only way here that polls. ``Process.is_running`` compares the process's start time with the one read when
we started watching, so a reused PID reads as the old process having exited.
"""

from __future__ import annotations

import time

import psutil

from codecalamity.awake.watch.base import CannotWatch, NoSuchProcess, PidWait


class PsutilWait(PidWait):
    """Poll with psutil."""

    name = "psutil"
    supported_platforms = ()

    interval = 0.1
    """Seconds between two looks: a release within a second of the exit, for a few cheap reads per second."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def add(self, pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            raise NoSuchProcess(pid) from None
        except psutil.AccessDenied:
            raise CannotWatch(pid, "permission denied") from None
        if not _running(proc):
            return False
        self._procs[pid] = proc
        return True

    def wait(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            exited = [pid for pid, proc in self._procs.items() if not _running(proc)]
            left = deadline - time.monotonic()
            if exited or not self._procs or left <= 0:
                for pid in exited:
                    del self._procs[pid]
                return exited
            time.sleep(min(self.interval, left))

    def close(self) -> None:
        self._procs.clear()


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (an exited process its parent has not reaped yet)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # it exists, and we may not read its status
        return True
