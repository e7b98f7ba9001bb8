"""Windows: a process handle per PID (``OpenProcess`` with ``SYNCHRONIZE``), waited on with ``WaitForSingleObject``.

The handle keeps the process object, so a PID reused after the exit cannot fool the wait.
https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocess
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

from codecalamity._errors import CalamityError
from codecalamity.awake.watch.base import CannotWatch, NoSuchProcess, PidWait

SYNCHRONIZE = 0x00100000
WAIT_OBJECT_0, WAIT_TIMEOUT, WAIT_FAILED = 0x0, 0x102, 0xFFFFFFFF
ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER = 5, 87


class WindowsWait(PidWait):
    """Wait on process handles."""

    name = "WaitForSingleObject"
    supported_platforms = ("win32",)

    slice_ms = 500
    """Longest single wait: Python handles Ctrl+C only between calls, and a ctypes call cannot be interrupted."""

    def __init__(self) -> None:
        ctypes_: Any = ctypes  # WinDLL and get_last_error exist on Windows only
        self._last_error = ctypes_.get_last_error
        kernel32 = ctypes_.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = ctypes.c_void_p  # a HANDLE is pointer-sized: the int default would cut it
        kernel32.OpenProcess.argtypes = (ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32)
        kernel32.WaitForSingleObject.restype = ctypes.c_uint32
        kernel32.WaitForSingleObject.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
        kernel32.CloseHandle.restype = ctypes.c_int
        kernel32.CloseHandle.argtypes = (ctypes.c_void_p,)
        self._kernel32 = kernel32
        self._handles: dict[int, int] = {}  # pid -> handle

    def add(self, pid: int) -> bool:
        handle = self._kernel32.OpenProcess(SYNCHRONIZE, False, pid)
        if not handle:
            code = self._last_error()
            if code == ERROR_INVALID_PARAMETER:
                raise NoSuchProcess(pid)
            raise CannotWatch(pid, "access denied" if code == ERROR_ACCESS_DENIED else f"Windows error {code}")
        if self._wait_one(pid, 0, handle):
            self._kernel32.CloseHandle(handle)
            return False
        self._handles[pid] = handle
        return True

    def wait(self, timeout: float) -> list[int]:
        if not self._handles:
            return []
        # Block on one process (all must exit before the wait ends, so any one will do), then look at the rest.
        first, *rest = self._handles
        if not self._wait_one(first, min(self.slice_ms, max(0, math.ceil(timeout * 1000)))):
            return []
        exited = [first, *(pid for pid in rest if self._wait_one(pid, 0))]
        for pid in exited:
            self._kernel32.CloseHandle(self._handles.pop(pid))
        return exited

    def _wait_one(self, pid: int, ms: int, handle: int | None = None) -> bool:
        """Whether the process has exited, after waiting at most ``ms`` milliseconds."""
        result = self._kernel32.WaitForSingleObject(self._handles[pid] if handle is None else handle, ms)
        if result == WAIT_FAILED:
            raise CalamityError(f"waiting for PID {pid} failed (Windows error {self._last_error()})")
        return bool(result == WAIT_OBJECT_0)

    def close(self) -> None:
        for handle in self._handles.values():
            self._kernel32.CloseHandle(handle)
        self._handles.clear()
