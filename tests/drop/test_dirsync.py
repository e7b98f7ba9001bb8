"""Folder flushes shared by uploads finishing together, and still a flush after each one's new name."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from codecalamity.drop.storage import local
from codecalamity.drop.storage.local import DirSync


def test_concurrent_syncs_share_flushes_and_each_waits_for_a_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[tuple[float, float]] = []
    real = local._fsync_dir

    def recording_fsync(path: Path) -> None:  # the real fsync, timed, made slow like a busy disk
        start = time.monotonic()
        real(path)
        time.sleep(0.02)
        flushes.append((start, time.monotonic()))

    monkeypatch.setattr(local, "_fsync_dir", recording_fsync)
    syncer = DirSync(tmp_path)
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()

    def one() -> None:
        asked = time.monotonic()
        syncer.sync()
        with lock:
            calls.append((asked, time.monotonic()))

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 24
    assert len(flushes) < 24  # shared
    for asked, returned in calls:  # every caller saw a whole flush that began after it asked
        assert any(asked <= start and end <= returned for start, end in flushes)


def test_a_failed_flush_is_not_taken_for_a_done_one(tmp_path: Path) -> None:
    syncer = DirSync(tmp_path / "missing")
    with pytest.raises(OSError):
        syncer.sync()
    (tmp_path / "missing").mkdir()
    syncer.sync()
