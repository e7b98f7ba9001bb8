"""`calamity awake --pid` and `--until` for real: real processes, the real clock, the private buses."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from codecalamity._errors import UsageError
from codecalamity.awake import PidWatch, stay_awake
from codecalamity.awake.watch import BACKENDS, CannotWatch, NoSuchProcess, PidWait, choose
from codecalamity.awake.watch.linux import PidfdWait
from codecalamity.awake.watch.portable import PsutilWait

from .conftest import Bus

Buses = Callable[[], tuple[Bus, Bus]]
Spawn = Callable[[], subprocess.Popen[bytes]]
CALAMITY = [sys.executable, "-m", "codecalamity"]
REAL_WAYS = [PidfdWait, PsutilWait]  # the two that can run here; kqueue and Windows: test_watch_platforms.py


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start processes that run until their stdin closes; kill and reap what is left at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdin is not None:
            proc.stdin.close()


def end(proc: subprocess.Popen[bytes]) -> None:
    """Let the process exit (stdin closed) without reaping it: it stays a zombie until its parent waits."""
    assert proc.stdin is not None
    proc.stdin.close()


def gone_pid() -> int:
    """The PID of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait(timeout=30)
    return proc.pid


def local_clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def test_the_lock_is_held_while_the_process_lives_and_released_within_a_second(buses: Buses, spawn: Spawn) -> None:
    session, system = buses()
    system.serve("login1")
    child = spawn()
    proc = subprocess.Popen([*CALAMITY, "awake", "--pid", str(child.pid)], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == f"kept awake by org.freedesktop.login1 while PID {child.pid} runs"
    (call,) = system.events("call")
    assert call["args"] == ["sleep:idle", "calamity", f"calamity awake --pid {child.pid}", "block"]
    assert system.events("fd_closed") == [] and proc.poll() is None
    ended = time.time()
    end(child)
    (closed,) = system.wait_for("fd_closed")
    assert closed["t"] - ended < 1.0
    assert proc.wait(timeout=20) == 0
    proc.stderr.close()


def test_ctrl_c_while_watching_releases_at_once(buses: Buses, spawn: Spawn) -> None:
    session, system = buses()
    system.serve("login1")
    child = spawn()
    proc = subprocess.Popen([*CALAMITY, "awake", "--pid", str(child.pid)], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert "while PID" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert proc.stderr.read() == "released\n"
    proc.stderr.close()
    system.wait_for("fd_closed")
    assert child.poll() is None  # the watched process is left alone


def test_several_pids_json_and_display(buses: Buses, spawn: Spawn) -> None:
    session, system = buses()
    session.serve("screensaver")
    first, second = spawn(), spawn()
    proc = subprocess.Popen(
        [*CALAMITY, "awake", "--display", "--json", "--pid", str(first.pid), "--pid", str(second.pid)],
        stdout=subprocess.PIPE,
        text=True,
    )
    session.wait_for("call")
    end(first)
    first.wait(timeout=10)
    end(second)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    report = json.loads(out)
    assert report["method"] == "org.freedesktop.ScreenSaver" and report["display"] is True
    assert report["pids"] == [first.pid, second.pid]
    assert report["until"] is None and report["for_seconds"] is None
    assert [c["method"] for c in session.events("call")] == ["Inhibit", "UnInhibit"]


def test_a_missing_pid_is_a_usage_error_before_any_lock(buses: Buses, spawn: Spawn) -> None:
    session, system = buses()
    system.serve("login1")
    pid = gone_pid()
    alive = spawn()
    result = subprocess.run(
        [*CALAMITY, "awake", "--pid", str(alive.pid), "--pid", str(pid)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == f"error: no process with PID {pid}\n"
    assert system.events() == []


def test_strict_fails_before_watching(no_buses: None, spawn: Spawn) -> None:
    child = spawn()
    result = subprocess.run(
        [*CALAMITY, "awake", "--strict", "--pid", str(child.pid)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no method could keep the computer awake")
    assert child.poll() is None


@pytest.mark.parametrize(
    "args",
    [
        ["--pid", "0"],
        ["--pid", "x"],
        ["--pid", "1", "--", "true"],
        ["--until", "7:00", "--", "true"],
        ["--until", "25:00"],
    ],
)
def test_usage_errors(args: list[str]) -> None:
    result = subprocess.run([*CALAMITY, "awake", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""


def test_until_a_few_seconds_ahead(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    target = math.ceil(time.time()) + 4
    result = subprocess.run(  # --for: should a loaded machine start us after the target, no day-long wait
        [*CALAMITY, "awake", "--until", local_clock(target), "--for", "30s"], capture_output=True, text=True, timeout=60
    )
    returned = time.time()
    assert result.returncode == 0
    assert f"kept awake by org.freedesktop.login1 until {local_clock(target)}" in result.stderr
    assert target - 0.05 <= returned < target + 5
    (closed,) = system.wait_for("fd_closed")  # the fake bus notices the closed fd in its own loop: wait for it
    assert target - 0.05 <= closed["t"] < target + 5  # held until the target, released when we returned


def test_for_and_until_the_earlier_wins_and_until_rolls_over(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    earlier = time.time() - 120  # two minutes ago: the next such moment is tomorrow's
    started = time.monotonic()
    result = subprocess.run(
        [*CALAMITY, "awake", "--json", "--for", "1s", "--until", local_clock(earlier)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert 1.0 <= time.monotonic() - started < 10
    report = json.loads(result.stdout)
    assert report["for_seconds"] == 1.0 and report["pids"] == []
    until = datetime.fromisoformat(report["until"])
    expected = datetime.fromtimestamp(math.floor(earlier), UTC) + timedelta(days=1)
    assert abs((until - expected).total_seconds()) <= 3600  # tomorrow; an hour off only across a DST change
    assert timedelta(hours=22) < until - datetime.now(UTC) < timedelta(hours=25)


def test_stay_awake_returns_what_ended_it(buses: Buses, spawn: Spawn) -> None:
    session, system = buses()
    system.serve("login1")
    child = spawn()
    soon = datetime.now(UTC) + timedelta(seconds=0.5)
    lock, ended = stay_awake([child.pid], until=soon, seconds=60, reason="render")
    assert (lock.method, ended) == ("org.freedesktop.login1", "until")
    assert datetime.now(UTC) >= soon
    seen: list[str | None] = []
    lock, ended = stay_awake([child.pid], seconds=0.3, on_lock=lambda held: seen.append(held.method))
    assert ended == "for" and seen == ["org.freedesktop.login1"]
    threading.Timer(0.3, end, (child,)).start()
    lock, ended = stay_awake([child.pid], seconds=60)
    assert ended == "pids"
    assert len(system.wait_for("fd_closed", 3)) == 3
    with pytest.raises(NoSuchProcess):
        stay_awake([gone_pid()], seconds=60)
    assert len(system.events("call")) == 3  # no lock taken for a bad PID


@pytest.mark.parametrize("way", REAL_WAYS)
def test_watch_until_the_last_of_several_exits(way: type[PidWait], spawn: Spawn) -> None:
    first, second = spawn(), spawn()
    with PidWatch([first.pid, second.pid, first.pid], backend=way) as watch:
        assert watch.pids == (first.pid, second.pid) and watch.method == way.name
        assert watch.wait(0.2) is False
        end(first)
        first.wait(timeout=10)
        assert watch.wait(0.3) is False
        assert watch.running == {second.pid}
        ended = time.monotonic()
        end(second)  # left a zombie: not reaped until the fixture's end
        assert watch.wait(10) is True
        assert time.monotonic() - ended < 1.0


@pytest.mark.parametrize("way", REAL_WAYS)
def test_a_zombie_has_already_exited(way: type[PidWait], spawn: Spawn) -> None:
    child = spawn()
    end(child)
    deadline = time.monotonic() + 10
    while _state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(child.pid) == "Z"
    with PidWatch([child.pid], backend=way) as watch:
        assert watch.running == set()
        assert watch.wait(0) is True


@pytest.mark.parametrize("way", REAL_WAYS)
def test_missing_own_and_bad_pids(way: type[PidWait]) -> None:
    pid = gone_pid()
    with pytest.raises(NoSuchProcess, match=f"^no process with PID {pid}$"):
        PidWatch([pid], backend=way)
    with pytest.raises(UsageError, match="this calamity process itself"):
        PidWatch([os.getpid()], backend=way)
    with pytest.raises(UsageError, match="not a process ID"):
        PidWatch([0], backend=way)


def test_pidfd_refuses_a_thread() -> None:
    ready, stop = threading.Event(), threading.Event()
    tids: list[int] = []

    def run() -> None:
        tids.append(threading.get_native_id())
        ready.set()
        stop.wait(10)

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait(10)
    try:
        with pytest.raises(CannotWatch, match="it is a thread, not a process"):
            PidWatch(tids, backend=PidfdWait)
    finally:
        stop.set()
        thread.join()


def test_choose_prefers_the_platforms_own_way() -> None:
    assert BACKENDS[-1] is PsutilWait
    assert choose("linux") is PidfdWait  # Linux 5.3+ here
    assert choose("darwin") is PsutilWait  # select.kqueue does not exist on Linux
    assert choose("sunos5") is PsutilWait


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]
