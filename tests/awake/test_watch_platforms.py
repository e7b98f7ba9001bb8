"""Waiting for a PID on Windows and macOS, which cannot run here: the OS calls are recorded with their arguments.

Windows: ``ctypes.WinDLL("kernel32", use_last_error=True)`` with OpenProcess, WaitForSingleObject, CloseHandle,
and ``ctypes.get_last_error``. macOS: ``select.kqueue`` and ``select.kevent``, with the real constants' values.
The zombie and missing-PID checks of the kqueue way use real processes of this machine (``kill(pid, 0)``).
"""

from __future__ import annotations

import ctypes
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from codecalamity._errors import CalamityError
from codecalamity.awake import PidWatch
from codecalamity.awake.watch import CannotWatch, NoSuchProcess, choose
from codecalamity.awake.watch.macos import KqueueWait
from codecalamity.awake.watch.windows import WindowsWait

SYNCHRONIZE, WAIT_OBJECT_0, WAIT_TIMEOUT, WAIT_FAILED = 0x00100000, 0x0, 0x102, 0xFFFFFFFF


class _Function:
    """A kernel32 function: records each call in the shared log and answers with ``answer``."""

    def __init__(self, name: str, log: list[tuple[Any, ...]], answer: Any) -> None:
        self.name, self.log, self.answer = name, log, answer
        self.restype: Any = None
        self.argtypes: Any = None

    def __call__(self, *args: Any) -> Any:
        self.log.append((self.name, *args))
        return self.answer(*args)


class _Kernel32:
    """Processes by PID: a handle, or the Windows error OpenProcess fails with; handles in ``exited`` are signaled."""

    def __init__(self) -> None:
        self.loaded: list[tuple[str, bool]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.processes: dict[int, int] = {}
        self.errors: dict[int, int] = {}
        self.exited: set[int] = set()
        self.failing: set[int] = set()
        self.last_error = 0
        self.OpenProcess = _Function("OpenProcess", self.calls, self._open)
        self.WaitForSingleObject = _Function("WaitForSingleObject", self.calls, self._wait)
        self.CloseHandle = _Function("CloseHandle", self.calls, lambda handle: 1)

    def _open(self, access: int, inherit: bool, pid: int) -> int | None:
        if pid in self.errors:
            self.last_error = self.errors[pid]
            return None  # NULL, as a c_void_p restype gives it
        return self.processes[pid]

    def _wait(self, handle: int, ms: int) -> int:
        if handle in self.failing:
            self.last_error = 6  # ERROR_INVALID_HANDLE
            return WAIT_FAILED
        if handle in self.exited:
            return WAIT_OBJECT_0
        time.sleep(ms / 1000)  # as the real call, which blocks for its timeout
        return WAIT_TIMEOUT


@pytest.fixture
def kernel32(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Kernel32]:
    fake = _Kernel32()

    def windll(name: str, use_last_error: bool = False) -> _Kernel32:
        fake.loaded.append((name, use_last_error))
        return fake

    monkeypatch.setattr(ctypes, "WinDLL", windll, raising=False)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: fake.last_error, raising=False)
    yield fake
    assert set(fake.loaded) <= {("kernel32", True)}


def test_windows_declares_pointer_sized_handles(kernel32: _Kernel32) -> None:
    WindowsWait()
    assert kernel32.loaded == [("kernel32", True)]  # use_last_error: GetLastError is read the safe way
    assert kernel32.OpenProcess.restype is ctypes.c_void_p
    assert kernel32.OpenProcess.argtypes == (ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32)
    assert kernel32.WaitForSingleObject.argtypes == (ctypes.c_void_p, ctypes.c_uint32)
    assert kernel32.WaitForSingleObject.restype is ctypes.c_uint32
    assert kernel32.CloseHandle.argtypes == (ctypes.c_void_p,)
    assert kernel32.calls == []


def test_windows_opens_a_handle_and_waits_on_it(kernel32: _Kernel32) -> None:
    kernel32.processes = {100: 0x7FF0_0000_1234, 101: 0x88}  # a 64-bit handle must come through whole
    watch = PidWatch([100, 101], backend=WindowsWait)
    assert watch.method == "WaitForSingleObject"
    assert kernel32.calls == [
        ("OpenProcess", SYNCHRONIZE, False, 100),
        ("WaitForSingleObject", 0x7FF0_0000_1234, 0),
        ("OpenProcess", SYNCHRONIZE, False, 101),
        ("WaitForSingleObject", 0x88, 0),
    ]
    kernel32.calls.clear()
    assert watch.wait(0.2) is False  # waits on the first process only, for the time given
    assert [c[:2] for c in kernel32.calls] == [("WaitForSingleObject", 0x7FF0_0000_1234)]
    assert 150 <= kernel32.calls[0][2] <= 200
    kernel32.calls.clear()
    kernel32.exited = {0x7FF0_0000_1234}
    assert watch.wait(0.6) is False  # the first exits; the second is looked at, then waited on for what is left
    assert kernel32.calls[:4] == [
        ("WaitForSingleObject", 0x7FF0_0000_1234, 500),  # at most one slice at a time
        ("WaitForSingleObject", 0x88, 0),
        ("CloseHandle", 0x7FF0_0000_1234),
        ("WaitForSingleObject", 0x88, 500),
    ]
    assert [c[:2] for c in kernel32.calls[4:]] == [("WaitForSingleObject", 0x88)] * len(kernel32.calls[4:])
    assert all(0 <= c[2] <= 100 for c in kernel32.calls[4:])
    assert watch.running == {101}
    kernel32.calls.clear()
    kernel32.exited.add(0x88)
    assert watch.wait() is True
    assert kernel32.calls == [("WaitForSingleObject", 0x88, 500), ("CloseHandle", 0x88)]
    watch.close()
    assert kernel32.calls[-1] == ("CloseHandle", 0x88)  # nothing left open: close adds nothing


def test_windows_slices_long_waits_so_ctrl_c_gets_through(kernel32: _Kernel32) -> None:
    kernel32.processes = {100: 0x10}
    way = WindowsWait()
    assert way.add(100) is True
    assert way.wait(3600) == []
    assert kernel32.calls[-1] == ("WaitForSingleObject", 0x10, 500)


def test_windows_errors(kernel32: _Kernel32) -> None:
    kernel32.processes = {100: 0x10, 400: 0x40}
    kernel32.errors = {200: 87, 300: 5, 500: 1450}
    with pytest.raises(NoSuchProcess, match="^no process with PID 200$"):
        PidWatch([100, 200], backend=WindowsWait)
    assert kernel32.calls[-1] == ("CloseHandle", 0x10)  # the handles opened before the bad PID are let go
    with pytest.raises(CannotWatch, match="^cannot watch PID 300: access denied$"):
        PidWatch([300], backend=WindowsWait)
    with pytest.raises(CannotWatch, match="Windows error 1450"):
        PidWatch([500], backend=WindowsWait)
    kernel32.exited = {0x40}  # exited, its process object still held by someone
    with PidWatch([400], backend=WindowsWait) as watch:
        assert watch.running == set()
    assert kernel32.calls[-2:] == [("WaitForSingleObject", 0x40, 0), ("CloseHandle", 0x40)]
    kernel32.failing = {0x10}
    with pytest.raises(CalamityError, match=r"waiting for PID 100 failed \(Windows error 6\)"):
        PidWatch([100], backend=WindowsWait)


def test_choose_windows() -> None:
    assert choose("win32") is WindowsWait


# macOS ---------------------------------------------------------------------------------------------------------

KQ_FILTER_PROC, KQ_EV_ADD, KQ_EV_ONESHOT, KQ_NOTE_EXIT = -5, 0x1, 0x10, 0x80000000


@dataclass(frozen=True)
class _Kevent:
    ident: int
    filter: int = 0
    flags: int = 0
    fflags: int = 0


class _Kqueue:
    """Registrations fail with ``refuse[pid]`` (an exception type); waits answer with the ``ready`` events."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse: dict[int, type[OSError]] = {}
        self.ready: list[_Kevent] = []
        self.closed = False

    def control(self, changes: list[_Kevent] | None, max_events: int, timeout: float | None = None) -> list[_Kevent]:
        self.calls.append(("control", changes, max_events, timeout))
        for change in changes or []:
            if change.ident in self.refuse:
                raise self.refuse[change.ident]()
        if changes:
            return []
        ready, self.ready = self.ready[:max_events], self.ready[max_events:]
        if not ready and timeout:
            time.sleep(timeout)  # as the real call, which blocks for its timeout
        return ready

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def kqueue(monkeypatch: pytest.MonkeyPatch) -> _Kqueue:
    fake = _Kqueue()
    monkeypatch.setattr(select, "kqueue", lambda: fake, raising=False)
    monkeypatch.setattr(select, "kevent", _Kevent, raising=False)
    for name, value in [
        ("KQ_FILTER_PROC", KQ_FILTER_PROC),
        ("KQ_EV_ADD", KQ_EV_ADD),
        ("KQ_EV_ONESHOT", KQ_EV_ONESHOT),
        ("KQ_NOTE_EXIT", KQ_NOTE_EXIT),
    ]:
        monkeypatch.setattr(select, name, value, raising=False)
    return fake


def _exit_event(pid: int) -> _Kevent:
    return _Kevent(pid, KQ_FILTER_PROC, 0, KQ_NOTE_EXIT)


def test_kqueue_registers_note_exit_and_waits(kqueue: _Kqueue) -> None:
    watch = PidWatch([100, 101], backend=KqueueWait)
    assert watch.method == "kqueue"
    registration = KQ_FILTER_PROC, KQ_EV_ADD | KQ_EV_ONESHOT, KQ_NOTE_EXIT
    assert kqueue.calls == [
        ("control", [_Kevent(100, *registration)], 0, 0),
        ("control", [_Kevent(101, *registration)], 0, 0),
    ]
    kqueue.calls.clear()
    assert watch.wait(0.25) is False
    assert [c[:3] for c in kqueue.calls] == [("control", None, 2)] * len(kqueue.calls)
    assert 0.2 < kqueue.calls[0][3] <= 0.25
    kqueue.ready = [_exit_event(101)]
    kqueue.calls.clear()
    assert watch.wait(0.25) is False
    assert watch.running == {100}
    assert kqueue.calls[0][:3] == ("control", None, 2)
    assert [c[:3] for c in kqueue.calls[1:]] == [("control", None, 1)] * len(kqueue.calls[1:])  # one left
    kqueue.ready = [_exit_event(100)]
    kqueue.calls.clear()
    assert watch.wait() is True
    assert kqueue.calls == [("control", None, 1, 3600.0)]
    watch.close()
    assert kqueue.calls[-1] == ("close",)


def test_kqueue_missing_zombie_and_forbidden(kqueue: _Kqueue) -> None:
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait(timeout=30)
    zombie = subprocess.Popen([sys.executable, "-c", ""])  # exits and is left unreaped: kill(pid, 0) finds it
    try:
        kqueue.refuse = {gone.pid: ProcessLookupError, zombie.pid: ProcessLookupError, 1: PermissionError}
        with pytest.raises(NoSuchProcess, match=f"^no process with PID {gone.pid}$"):
            PidWatch([gone.pid], backend=KqueueWait)
        assert kqueue.calls[-1] == ("close",)
        with pytest.raises(CannotWatch, match="^cannot watch PID 1: permission denied$"):
            PidWatch([1], backend=KqueueWait)
        deadline = time.monotonic() + 10
        while _not_yet_zombie(zombie.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        with PidWatch([zombie.pid], backend=KqueueWait) as watch:
            assert watch.running == set() and watch.wait(0) is True
    finally:
        zombie.wait(timeout=30)


def test_choose_macos(kqueue: _Kqueue) -> None:
    assert choose("darwin") is KqueueWait


def _not_yet_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
