"""`calamity awake` as a user runs it: for a time, around a command, as JSON, strict."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import Bus

Buses = Callable[[], tuple[Bus, Bus]]
CALAMITY = [sys.executable, "-m", "codecalamity"]


def awake_json_exiting(code: int) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`calamity awake --json -- python -c "sys.exit(code)"`: the finished process and its JSON report."""
    result = subprocess.run(
        [*CALAMITY, "awake", "--json", "--", sys.executable, "-c", f"import sys; sys.exit({code})"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, json.loads(result.stdout)


def test_command_runs_awake_and_returns_its_exit_code(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    result, report = awake_json_exiting(7)
    assert result.returncode == 7
    assert report["method"] == "org.freedesktop.login1"
    assert report["exit_code"] == 7
    assert any(a["method"] == "org.gnome.SessionManager" and a["ok"] is False for a in report["attempts"])
    (call,) = system.events("call")
    assert call["args"][2].endswith("sys.exit(7)")  # the command is the reason logind shows
    system.wait_for("fd_closed")


def test_for_ends_on_time(buses: Buses) -> None:
    session, system = buses()
    session.serve("powermanagement")
    started = time.monotonic()
    result = subprocess.run([*CALAMITY, "awake", "--for", "1.5s"], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0
    assert "kept awake by org.freedesktop.PowerManagement for 2s" in result.stderr or "for 1s" in result.stderr
    assert 1.4 < elapsed < 10
    assert [c["method"] for c in session.events("call")] == ["Inhibit", "UnInhibit"]


def test_until_sigint_then_released(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    proc = subprocess.Popen([*CALAMITY, "awake"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert "kept awake by org.freedesktop.login1" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    proc.stderr.close()
    system.wait_for("fd_closed")


def test_strict_fails_when_nothing_works(no_buses: None) -> None:
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}  # no systemd-inhibit either
    result = subprocess.run([*CALAMITY, "awake", "--strict", "--for", "1s"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no method could keep the computer awake")
    lenient = subprocess.run(
        [*CALAMITY, "awake", "--", sys.executable, "-c", "print('ran')"], capture_output=True, text=True, env=env
    )
    assert lenient.returncode == 0
    assert lenient.stdout == "ran\n"
    assert "warning: no method could keep the computer awake" in lenient.stderr


@pytest.mark.skipif(shutil.which("systemd-inhibit") is None, reason="systemd-inhibit is not installed")
def test_systemd_inhibit_wraps_the_command_when_nothing_else_works(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1:refuse=1")  # our own login1 call is refused; systemd-inhibit's are granted
    result, report = awake_json_exiting(4)
    assert result.returncode == 4
    assert report["method"] == "systemd-inhibit"
    calls = system.events("call")
    assert len(calls) == 3  # ours (refused), the probe, the real one
    assert calls[2]["args"][:2] == ["sleep:idle", "calamity"]
    system.wait_for("fd_closed", 2)


def test_forwards_sigterm_to_the_command(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        "print('up', flush=True)\n"
        "time.sleep(30)"
    )
    proc = subprocess.Popen([*CALAMITY, "awake", "--", sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"up"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 42
    proc.stdout.close()
    system.wait_for("fd_closed")


def test_usage_errors() -> None:
    both = subprocess.run([*CALAMITY, "awake", "--for", "1s", "--", "true"], capture_output=True, text=True)
    assert both.returncode == 2
    bad = subprocess.run([*CALAMITY, "awake", "--for", "soon"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "not a duration" in bad.stderr
