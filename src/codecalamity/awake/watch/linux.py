"""Linux: a pidfd per process (``pidfd_open``, Linux 5.3), polled; it becomes readable when the process exits.

The descriptor refers to the process itself, not its number, so a PID reused after the exit cannot be mistaken
for it. https://man7.org/linux/man-pages/man2/pidfd_open.2.html
"""

from __future__ import annotations

import errno
import math
import os
import select

from codecalamity.awake.watch.base import CannotWatch, NoSuchProcess, PidWait

# What pidfd_open says for the ID of a thread that does not lead its process: EINVAL on older kernels, ENOENT on
# recent ones (seen on 6.18).
THREAD_ERRNOS = (errno.EINVAL, errno.ENOENT)


class PidfdWait(PidWait):
    """Poll pidfds."""

    name = "pidfd"
    supported_platforms = ("linux",)

    @classmethod
    def caniuse(cls) -> str | None:
        if not hasattr(os, "pidfd_open"):
            return "os.pidfd_open is missing (this Python was not built on Linux 5.3+)"
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError as err:  # ENOSYS on kernels before 5.3, EPERM under some seccomp filters
            return f"pidfd_open does not work here: {err.strerror}"
        return None

    def __init__(self) -> None:
        self._poll = select.poll()
        self._pids: dict[int, int] = {}  # fd -> pid

    def add(self, pid: int) -> bool:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise NoSuchProcess(pid) from None
        except OSError as err:
            why = "it is a thread, not a process" if err.errno in THREAD_ERRNOS else err.strerror or str(err)
            raise CannotWatch(pid, why) from None
        if select.select([fd], [], [], 0)[0]:  # exited already: a zombie its parent has not reaped yet
            os.close(fd)
            return False
        self._pids[fd] = pid
        self._poll.register(fd, select.POLLIN)
        return True

    def wait(self, timeout: float) -> list[int]:
        if not self._pids:
            return []
        exited = []
        for fd, _ in self._poll.poll(max(0, math.ceil(timeout * 1000))):
            self._poll.unregister(fd)
            os.close(fd)
            exited.append(self._pids.pop(fd))
        return exited

    def close(self) -> None:
        for fd in list(self._pids):
            self._poll.unregister(fd)
            os.close(fd)
        self._pids.clear()
