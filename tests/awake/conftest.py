"""A private session bus and a second dbus-daemon standing in for the system bus, with fake services on them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{kind}</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


@dataclass
class Bus:
    """One running dbus-daemon and its fake services."""

    address: str
    log: Path
    procs: list[subprocess.Popen[bytes]]

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in rows if event is None or r["event"] == event]

    def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(event)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {count} x {event!r} on the bus within {timeout}s: {self.events()}")

    def serve(self, *services: str) -> None:
        """Start fake services on this bus (each ``name`` or ``name:refuse`` or ``name:refuse=N``)."""
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "fakebus.py"), self.address, str(self.log), *services],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        proc.stdout.close()
        self.procs.append(proc)


def _start_bus(tmp: Path, name: str) -> Bus:
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is not installed: `make test` installs it (apt-get install dbus-daemon)")
    socket = tmp / f"{name}.sock"
    config = tmp / f"{name}.conf"
    config.write_text(CONFIG.format(kind="session", socket=socket))
    daemon = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not socket.exists():
        if time.monotonic() > deadline or daemon.poll() is not None:
            raise AssertionError("dbus-daemon did not start")
        time.sleep(0.01)
    return Bus(f"unix:path={socket}", tmp / f"{name}.log", [daemon])


@pytest.fixture
def buses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], tuple[Bus, Bus]]]:
    """Start a session bus and a stand-in system bus; point this process (and children) at them."""
    started: list[Bus] = []

    def start() -> tuple[Bus, Bus]:
        session, system = _start_bus(tmp_path, "session"), _start_bus(tmp_path, "system")
        started.extend([session, system])
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.address)
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", system.address)
        return session, system

    for var in ("XDG_SESSION_DESKTOP", "XDG_CURRENT_DESKTOP", "DESKTOP_SESSION"):
        monkeypatch.delenv(var, raising=False)
    yield start
    for bus in started:
        for proc in reversed(bus.procs):
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def no_buses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no D-Bus at all (a container)."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
