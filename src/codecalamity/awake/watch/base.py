"""What every way of waiting for processes to exit provides; the platform, detected once."""

from __future__ import annotations

import abc
import sys
from typing import ClassVar

from codecalamity._errors import UsageError

# sys.platform, with Linux's old "linux2" folded in; what supported_platforms is matched against
PLATFORM = "linux" if sys.platform.startswith("linux") else sys.platform


class NoSuchProcess(UsageError):
    """The PID names no process (exit code 2)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"no process with PID {pid}")


class CannotWatch(UsageError):
    """The process exists but we may not watch it (exit code 2)."""

    def __init__(self, pid: int, why: str) -> None:
        super().__init__(f"cannot watch PID {pid}: {why}")


class PidWait(abc.ABC):
    """Wait for processes to exit, one way; a subclass per operating-system facility.

    ``add`` opens a handle on the process at once, so that a PID reused after the process exits cannot fool the
    wait (except in the psutil fallback, which compares start times instead).
    """

    name: ClassVar[str]
    supported_platforms: ClassVar[tuple[str, ...]]
    """``PLATFORM`` values where this way can work (empty: everywhere)."""

    @classmethod
    def caniuse(cls) -> str | None:
        """Why this way cannot be used on this machine, or None when it can."""
        return None

    @abc.abstractmethod
    def add(self, pid: int) -> bool:
        """Start watching ``pid``; False when it has already exited (a zombie not yet reaped by its parent).

        Raises
        ------
        NoSuchProcess
            When there is no such process.
        CannotWatch
            When we may not watch it.
        """

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[int]:
        """Block at most ``timeout`` seconds for watched processes to exit; return those that did (no longer
        watched)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Let go of every handle (idempotent)."""
