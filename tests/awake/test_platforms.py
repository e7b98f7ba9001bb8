"""Windows and macOS cannot run here: their system boundary is replaced by recorders of the exact calls.

Windows: ``ctypes.windll.kernel32.SetThreadExecutionState`` records each call's flags and thread.
macOS: a ``caffeinate`` executable on PATH records its arguments and then runs its utility, as the real one does.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wakepy.core.method
import wakepy.core.mode
from wakepy.core.constants import IdentifiedPlatformType

from codecalamity.awake import keep_awake

ES_CONTINUOUS, ES_SYSTEM_REQUIRED, ES_DISPLAY_REQUIRED = 0x80000000, 0x00000001, 0x00000002


class _SetThreadExecutionState:
    def __init__(self, calls: list[tuple[int, int]]) -> None:
        self.calls = calls
        self.restype: object = None

    def __call__(self, flags: int) -> int:
        self.calls.append((flags, threading.get_ident()))
        return ES_CONTINUOUS


class _Kernel32:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.SetThreadExecutionState = _SetThreadExecutionState(self.calls)


def _pretend(monkeypatch: pytest.MonkeyPatch, platform: IdentifiedPlatformType) -> None:
    monkeypatch.setattr(wakepy.core.mode, "CURRENT_PLATFORM", platform)
    monkeypatch.setattr(wakepy.core.method, "CURRENT_PLATFORM", platform)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Kernel32]:
    kernel32 = _Kernel32()
    _pretend(monkeypatch, IdentifiedPlatformType.WINDOWS)
    monkeypatch.setattr(ctypes, "windll", type("WinDLL", (), {"kernel32": kernel32})(), raising=False)
    yield kernel32


@pytest.mark.parametrize(
    ("display", "flags"),
    [(False, ES_CONTINUOUS | ES_SYSTEM_REQUIRED), (True, ES_CONTINUOUS | ES_SYSTEM_REQUIRED | ES_DISPLAY_REQUIRED)],
)
def test_windows_sets_and_resets_the_state_from_one_dedicated_thread(
    windows: _Kernel32, display: bool, flags: int
) -> None:
    with keep_awake(display=display) as lock:
        assert lock.method == "SetThreadExecutionState"
        assert [f for f, _ in windows.calls] == [flags]
    assert [f for f, _ in windows.calls] == [flags, ES_CONTINUOUS]
    threads = {t for _, t in windows.calls}
    assert len(threads) == 1  # the state is per thread: set and reset on the same one
    assert threads != {threading.get_ident()}  # not the caller's thread, which may exit or be reused


def test_windows_nested_locks_each_get_their_thread(windows: _Kernel32) -> None:
    with keep_awake():
        with keep_awake(display=True):
            pass
    flags = [f for f, _ in windows.calls]
    assert flags == [
        ES_CONTINUOUS | ES_SYSTEM_REQUIRED,
        ES_CONTINUOUS | ES_SYSTEM_REQUIRED | ES_DISPLAY_REQUIRED,
        ES_CONTINUOUS,
        ES_CONTINUOUS,
    ]
    assert windows.calls[1][1] == windows.calls[2][1] and windows.calls[0][1] == windows.calls[3][1]


FAKE_CAFFEINATE = """#!/bin/sh
echo "$$ $*" >> "$CAFFEINATE_LOG"
while [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
"""


@pytest.fixture
def macos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "caffeinate"
    fake.write_text(FAKE_CAFFEINATE)
    fake.chmod(0o755)
    log = tmp_path / "caffeinate.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CAFFEINATE_LOG", str(log))
    _pretend(monkeypatch, IdentifiedPlatformType.MACOS)
    return log


def _read_log(log: Path) -> tuple[int, str]:
    """The fake caffeinate's pid and arguments, once it has started."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().endswith("\n"):
            pid, argv = log.read_text().split(" ", 1)
            return int(pid), argv.strip()
        time.sleep(0.01)
    raise AssertionError("caffeinate never started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


@pytest.mark.parametrize(("display", "args"), [(False, "cat"), (True, "-d cat")])
def test_macos_runs_caffeinate_while_held(macos: Path, display: bool, args: str) -> None:
    with keep_awake(display=display) as lock:
        assert lock.method == "caffeinate"
        pid, argv = _read_log(macos)
        assert argv == args
        assert _alive(pid)
    _wait_gone(pid)


def test_macos_caffeinate_ends_when_the_holder_is_killed(macos: Path) -> None:
    holder = textwrap.dedent(
        """
        import time, wakepy.core.mode, wakepy.core.method
        from wakepy.core.constants import IdentifiedPlatformType as P
        wakepy.core.mode.CURRENT_PLATFORM = wakepy.core.method.CURRENT_PLATFORM = P.MACOS
        from codecalamity.awake import keep_awake
        with keep_awake() as lock:
            print(lock.method, flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"caffeinate"
    pid, _ = _read_log(macos)
    assert _alive(pid)
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
    _wait_gone(pid)  # its stdin closed with the holder, so `caffeinate cat` ends
