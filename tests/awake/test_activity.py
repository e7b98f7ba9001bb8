"""Awake only while work is in progress: the helper, and `calamity drop --keep-awake`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from codecalamity.awake.activity import AwakeWhileBusy

from ..drop.conftest import send_chunk, start_server
from .conftest import Bus

Buses = Callable[[], tuple[Bus, Bus]]


def test_held_while_busy_and_released_after_the_grace(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    awake = AwakeWhileBusy("test", grace=0.3)
    try:
        assert system.events("call") == []
        awake.update(1)
        system.wait_for("call")
        awake.update(0)
        awake.update(2)  # work resumes within the grace: no new lock, no release
        awake.update(0)
        started = time.monotonic()
        system.wait_for("fd_closed")
        assert time.monotonic() - started >= 0.25
        assert len(system.events("call")) == 1
    finally:
        awake.close()


def test_drop_keeps_awake_only_while_uploading(buses: Buses, tmp_path: Path) -> None:
    session, system = buses()
    system.serve("login1")
    server = start_server(tmp_path / "s", tmp_path / "c", "--keep-awake", "--keep-awake-grace", "0.5")
    try:
        assert "Keep Awake:      while uploading" in server.log.read_text()
        assert system.events("call") == []  # idle server: the computer may sleep
        uid = str(uuid.uuid4())
        data = b"x" * 3000
        with httpx.Client() as client:
            for index in range(3):
                assert send_chunk(client, server.url, uid, data, index, 1000).status_code == 200
        (call,) = system.wait_for("call")
        assert call["args"][2] == "calamity drop: receiving uploads"
        system.wait_for("fd_closed")
        assert len(system.events("call")) == 1  # one lock for the whole upload, not one per chunk
    finally:
        server.stop()
