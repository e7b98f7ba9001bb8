"""Faults: the server killed and restarted, clients that stall or vanish, a full disk, expiry."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from codecalamity.drop.config import DropConfig
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger.sqlite import SqliteLedger
from codecalamity.drop.storage.local import LocalStorage

from .conftest import Server, chunk_fields, send_chunk, upload_all

CHUNK = 1000


def _data(n: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(f"r{seed}".encode()).digest(n)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_upload_continues_after_the_server_is_killed_and_restarted(serve: Callable[..., Server], sig: int) -> None:
    data = _data(4000)
    uid = str(uuid.uuid4())
    first = serve("-a")
    with httpx.Client() as client:
        upload_all(client, first.url, uid, data, CHUNK, [0, 2])
    first.stop(sig)
    assert first.stored_files() == {}

    second = serve("-a")
    with httpx.Client() as client:
        assert client.get(f"{second.url}upload/{uid}").json()["received"] == [0, 2]
        last = upload_all(client, second.url, uid, data, CHUNK, [3, 1])
        assert last.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert second.stored_files() == {"data.bin": data}


def _partial_request(url: str, uid: str, total: int, send_bytes: int) -> socket.socket:
    """Open a chunk request for chunk 0 that announces a whole chunk but sends only ``send_bytes`` of it."""
    boundary = "b0undary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in chunk_fields(uid, 0, total, CHUNK).items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
    tail = f"\r\n--{boundary}--\r\n"
    body_len = len(head) + CHUNK + len(tail)
    host, port = url.split("//")[1].rstrip("/").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        f"POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {body_len}\r\n\r\n{head}".encode()
        + b"z" * send_bytes
    )
    return sock


def test_a_client_that_stalls_mid_chunk_is_dropped_and_the_chunk_not_counted(
    serve: Callable[..., Server],
) -> None:
    server = serve("--timeout", "700")
    data = _data(2000)
    uid = str(uuid.uuid4())
    sock = _partial_request(server.url, uid, len(data), 300)
    sock.settimeout(10)
    started = time.monotonic()
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 8
    with httpx.Client() as client:
        assert client.get(f"{server.url}upload/{uid}").json()["received"] == []
        upload_all(client, server.url, uid, data, CHUNK, [0, 1])
    assert server.stored_files() == {"s.bin": data}  # the first request named the upload


def test_a_client_that_disconnects_mid_chunk_loses_nothing(server: Server) -> None:
    data = _data(2000)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        upload_all(client, server.url, uid, data, CHUNK, [1])
        sock = _partial_request(server.url, uid, len(data), 500)
        sock.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server notices the disconnect asynchronously
            status = client.get(f"{server.url}upload/{uid}").json()
            if status["received"] == [1]:
                break
            time.sleep(0.05)
        assert status["received"] == [1]
        upload_all(client, server.url, uid, data, CHUNK, [0])
    assert server.stored_files() == {"data.bin": data}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root, as on CI and the dev machines)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_up_mid_upload(serve: Callable[..., Server], small_disk: Path) -> None:
    server = serve("--reserve", "0", storage=small_disk / "storage", chunks=small_disk / "chunks")
    big = 100_000
    data = _data(2 * 1024 * 1024)
    uid = str(uuid.uuid4())
    count = -(-len(data) // big)
    filler_path = small_disk / "filler"
    with httpx.Client() as client:
        upload_all(client, server.url, uid, data, big, [0, 1])
        # Another program fills the disk to the last byte (the ledger lives there too).
        with open(filler_path, "wb", buffering=0) as filler:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    filler.write(b"\0" * 4096)
        # Every chunk now either lands (its space was reserved when the upload began) or gets a clear 507.
        statuses = {send_chunk(client, server.url, uid, data, i, big).status_code for i in range(2, count)}
        assert statuses <= {200, 507}
        # A new upload is refused with a clear 507, and leaves nothing behind.
        refused = send_chunk(client, server.url, str(uuid.uuid4()), data, 0, big)
        assert refused.status_code == 507
        assert "disk" in refused.json()["error"] or "full" in refused.json()["error"]
        plain = client.post(server.url + "upload", files={"file": ("p.bin", data)})
        assert plain.status_code == 507
        assert server.stored_files() == {}
        # Space comes back: sending the chunks again finishes the upload, exactly.
        filler_path.unlink()
        last = upload_all(client, server.url, uid, data, big, list(range(count)))
        assert last.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"data.bin": data}
    assert list((small_disk / "chunks").iterdir()) == []


def _inbox(tmp_path: Path, **config: object) -> Inbox:
    cfg = DropConfig(storage=tmp_path / "s", chunks=tmp_path / "c", reserve_mb=0, **config)  # type: ignore[arg-type]
    storage = LocalStorage(cfg.storage, cfg.chunks)
    return Inbox(cfg, storage, SqliteLedger(storage.ledger_path))


def test_abandoned_partial_uploads_expire(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, partial_ttl=3600.0)
    uid = str(uuid.uuid4())
    sink = inbox.begin_chunk(chunk_fields(uid, 0, 3000, CHUNK), "a.bin")
    assert (tmp_path / "c" / f"{uid}.part").exists()
    sink.abort()
    assert inbox.expire(time.time() + 60) == 0
    assert inbox.expire(time.time() + 3601) == 1
    assert not (tmp_path / "c" / f"{uid}.part").exists()
    assert inbox.ledger.get(uid) is None


async def _whole(inbox: Inbox, name: str, data: bytes) -> dict[str, object]:
    sink = inbox.begin_whole(name, len(data))
    sink.write(data)
    return await inbox.complete(sink)


@pytest.mark.anyio
async def test_kept_files_expire_but_shared_content_stays_while_used(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, keep=100.0)
    first = await _whole(inbox, "one.txt", b"same")
    assert (tmp_path / "s" / "one.txt").read_bytes() == b"same"
    second = await _whole(inbox, "two.txt", b"same")
    assert first["sha256"] == second["sha256"]
    first_done = inbox.ledger.get(str(first["id"])).finished  # type: ignore[union-attr]
    second_done = inbox.ledger.get(str(second["id"])).finished  # type: ignore[union-attr]
    assert first_done is not None and second_done is not None
    assert (tmp_path / "s" / "two.txt").stat().st_ino == (tmp_path / "s" / "one.txt").stat().st_ino
    if second_done > first_done:
        # the first upload is past --keep: its name goes, the content stays under the second's name
        assert inbox.expire(first_done + 100 + (second_done - first_done) / 2) == 1
        assert not (tmp_path / "s" / "one.txt").exists()
        assert (tmp_path / "s" / "two.txt").read_bytes() == b"same"
        assert inbox.ledger.get(str(first["id"])) is None
        assert inbox.ledger.blob(str(first["sha256"])) == ("two.txt", 4)
        third = await _whole(inbox, "three.txt", b"same")  # linked from the copy that is left
        assert (tmp_path / "s" / "three.txt").stat().st_ino == (tmp_path / "s" / "two.txt").stat().st_ino
        assert inbox.expire(float(inbox.ledger.get(str(third["id"])).finished or 0) + 101) == 2  # type: ignore[union-attr]
    else:
        assert inbox.expire(second_done + 101) == 2
    assert not (tmp_path / "s" / "one.txt").exists()
    assert not (tmp_path / "s" / "two.txt").exists()
    assert inbox.ledger.blob(str(first["sha256"])) is None


def test_a_partial_file_left_by_a_killed_server_expires(serve: Callable[..., Server], tmp_path: Path) -> None:
    # found by benchmarks/soak.py: a plain upload is recorded only once whole, so a server killed while it
    # streamed left a partial file that no ledger row pointed to, and nothing ever removed it
    first = serve()
    host, port = first.url.split("//")[1].rstrip("/").split(":")
    head = '--b\r\nContent-Disposition: form-data; name="file"; filename="p.bin"\r\n\r\n'
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        f"POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(head) + 3_000_000}\r\n\r\n{head}".encode()
        + b"z" * 2_500_000  # past what a whole upload may hold in memory (chunks.HELD_EACH): on disk by now
    )
    deadline = time.monotonic() + 10
    while not list(first.chunks.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list(first.chunks.iterdir())) == 1
    first.stop(signal.SIGKILL)
    sock.close()

    second = serve("--partial-ttl", "1s")
    deadline = time.monotonic() + 15
    while list(second.chunks.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(second.chunks.iterdir()) == []
    assert second.stored_files() == {}


@pytest.mark.anyio
async def test_whole_uploads_held_in_memory_within_a_budget(tmp_path: Path) -> None:
    """Small whole uploads wait in memory up to a shared limit; past it they go to disk; the files come out right."""
    inbox = _inbox(tmp_path)
    inbox.held.limit = 150_000
    pieces = [hashlib.shake_256(b"held%d" % i).digest(100_000) for i in range(3)]
    sinks = [inbox.begin_whole(f"h{i}.bin", len(p)) for i, p in enumerate(pieces)]
    for sink, data in zip(sinks, pieces, strict=True):
        sink.write(data[:60_000])
        sink.write(data[60_000:])
    assert inbox.held.used <= 150_000
    assert [s.on_disk for s in sinks] == [False, True, True]  # the first fits, the others spill
    assert list((tmp_path / "c").iterdir()) != []
    for sink, data in zip(sinks, pieces, strict=True):
        info = await inbox.complete(sink)
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert inbox.held.used == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir() if not p.name.startswith(".")} == {
        f"h{i}.bin": data for i, data in enumerate(pieces)
    }
    assert list((tmp_path / "c").iterdir()) == []
