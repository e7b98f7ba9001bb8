"""macOS (and FreeBSD): a kqueue with an ``EVFILT_PROC``/``NOTE_EXIT`` event per process, as ``caffeinate -w``.

The kernel attaches the event to the process itself, so a reused PID cannot fool it.
https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html
"""

from __future__ import annotations

import os
import select
from typing import Any

from codecalamity.awake.watch.base import CannotWatch, NoSuchProcess, PidWait

_select: Any = select  # kqueue exists only in the BSDs' select module; typeshed declares it for darwin only


class KqueueWait(PidWait):
    """Wait on a kqueue."""

    name = "kqueue"
    supported_platforms = ("darwin", "freebsd")

    @classmethod
    def caniuse(cls) -> str | None:
        return None if hasattr(select, "kqueue") else "select.kqueue is missing"

    def __init__(self) -> None:
        self._kq = _select.kqueue()
        self._pids: set[int] = set()

    def add(self, pid: int) -> bool:
        event = _select.kevent(
            pid,
            filter=_select.KQ_FILTER_PROC,
            flags=_select.KQ_EV_ADD | _select.KQ_EV_ONESHOT,
            fflags=_select.KQ_NOTE_EXIT,
        )
        try:
            self._kq.control([event], 0, 0)
        except ProcessLookupError:
            # ESRCH for a zombie too (exited, not yet reaped); kill(pid, 0) still finds a zombie
            if _exists(pid):
                return False
            raise NoSuchProcess(pid) from None
        except PermissionError:
            raise CannotWatch(pid, "permission denied") from None
        self._pids.add(pid)
        return True

    def wait(self, timeout: float) -> list[int]:
        if not self._pids:
            return []
        events = self._kq.control(None, len(self._pids), timeout)
        exited = [e.ident for e in events if e.filter == _select.KQ_FILTER_PROC and e.ident in self._pids]
        self._pids.difference_update(exited)
        return exited

    def close(self) -> None:
        self._pids.clear()
        self._kq.close()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
