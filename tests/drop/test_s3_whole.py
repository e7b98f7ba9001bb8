"""Small uploads in S3 in one PutObject each, and the probe for parts under 5 MiB (SeaweedFS + PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from codecalamity.drop import services
from codecalamity.drop.config import DropConfig
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger.postgres import PostgresLedger
from codecalamity.drop.ledger.publishing import KeyTaken
from codecalamity.drop.ledger.sql import SqlLedger
from codecalamity.drop.services import Service
from codecalamity.drop.storage.s3 import S3Storage
from codecalamity.drop.storage.s3_parts import reserve
from codecalamity.drop.storage.s3_whole import STRICT_ENV, accepts_small_parts

from .conftest import Server, chunk_fields

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def backend() -> str:
    return "s3"


def _data(n: int, seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n)


def _meta(name: str) -> str:
    return "filename " + base64.b64encode(name.encode()).decode()


def _rows(pg: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg) as conn:
        return list(conn.execute(sql).fetchall())


def _open_multipart(server: Server) -> list[str]:
    assert server.s3 is not None
    found = server.s3.client.list_multipart_uploads(Bucket=server.s3.bucket, Prefix=server.s3.prefix + "/")
    return [str(u["Key"]) for u in found.get("Uploads", [])]


def test_small_whole_uploads_are_one_object_each_with_nothing_left_behind(
    serve: Callable[..., Server], pg_url: str
) -> None:
    server = serve("-a")
    files = {name: _data(300_000 + i, name) for i, name in enumerate(["a.bin", "b.bin", "c.bin", "d.bin"])}
    with httpx.Client(timeout=30) as client:
        # tus creation-with-upload (send, the page)
        r = client.post(
            server.url + "files/",
            content=files["a.bin"],
            headers={**TUS, "Upload-Length": str(len(files["a.bin"])), "Upload-Metadata": _meta("a.bin"),
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip
        assert r.status_code == 201 and r.headers["Upload-Sha256"] == hashlib.sha256(files["a.bin"]).hexdigest()
        # tus POST, then one PATCH with every byte (tuspy)
        r = client.post(
            server.url + "files/",
            headers={**TUS, "Upload-Length": str(len(files["b.bin"])), "Upload-Metadata": _meta("b.bin")},
        )
        url = server.origin + r.headers["Location"]
        patch = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        bad = {**patch, "Upload-Checksum": "sha256 " + base64.b64encode(b"\0" * 32).decode()}
        assert client.patch(url, content=files["b.bin"], headers=bad).status_code == 460  # nothing kept
        assert client.head(url, headers=TUS).headers["Upload-Offset"] == "0"
        r = client.patch(url, content=files["b.bin"], headers=patch)
        assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(files["b.bin"]))
        assert r.headers["Upload-Sha256"] == hashlib.sha256(files["b.bin"]).hexdigest()
        assert client.patch(url, content=files["b.bin"], headers=patch).status_code == 409  # done: no more bytes
        # a Dropzone upload of one chunk, sent twice (a retry): one file
        uid = str(uuid.uuid4())
        fields = chunk_fields(uid, 0, len(files["c.bin"]), 1_000_000)
        for _ in range(2):
            r = client.post(server.url + "upload", data=fields, files={"file": ("c.bin", files["c.bin"])})
            assert r.status_code == 200 and r.json()["state"] == "done"
        # a plain upload, then the same file under the same name: the same object, no "d (1).bin"
        for _ in range(2):
            r = client.post(server.url + "upload", files={"file": ("d.bin", files["d.bin"])})
            assert r.status_code == 200 and r.json()["state"] == "done"
        token = r.json()["token"]
        got = client.get(server.url + f"download/{token}", headers={"Range": "bytes=10-19"})
        assert got.status_code == 206 and got.content == files["d.bin"][10:20]
    assert server.stored_files() == files
    assert server.s3 is not None and server.s3.pieces() == []  # no staging object
    assert _open_multipart(server) == []
    assert _rows(pg_url, "SELECT COUNT(*) FROM assemblies") == [(0,)]
    assert _rows(pg_url, "SELECT COUNT(*) FROM publishing") == [(0,)]  # every intent went with its record
    assert _rows(pg_url, "SELECT state, COUNT(*) FROM uploads GROUP BY state") == [("done", 5)]


def test_a_whole_upload_never_takes_a_name_a_multipart_upload_reserved(serve: Callable[..., Server]) -> None:
    server = serve("-a")
    big = _data(6 * MIB, "big")
    small = _data(50_000, "small")
    uid = str(uuid.uuid4())
    with httpx.Client(timeout=60) as client:
        first = big[: 5 * MIB]  # a chunk of 5 MiB is a part: the multipart upload starts at report.pdf
        r = client.post(server.url + "upload", data=chunk_fields(uid, 0, len(big), 5 * MIB),
                        files={"file": ("report.pdf", first)})  # fmt: skip
        assert r.status_code == 200
        assert _open_multipart(server) != []
        r = client.post(server.url + "upload", files={"file": ("report.pdf", small)})
        assert r.status_code == 200 and r.json()["state"] == "done"
        r = client.post(server.url + "upload", data=chunk_fields(uid, 1, len(big), 5 * MIB),
                        files={"file": ("report.pdf", big[5 * MIB :])})  # fmt: skip
        assert r.status_code == 200 and r.json()["state"] == "done"
    assert server.stored_files() == {"report.pdf": big, "report (1).pdf": small}


@pytest.fixture
def storage(
    seaweedfs: Service, pg_url: str, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[S3Storage]:
    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    ledger = PostgresLedger(pg_url)
    store = S3Storage(f"s3://{services.S3_BUCKET}/w-{uuid.uuid4().hex[:8]}", ledger, seaweedfs.url)
    yield store
    store.close()
    ledger.close()


def _keys(store: S3Storage) -> list[str]:
    return [key for key, _ in store.listing(store.full_key(""))]


def test_a_put_and_a_reservation_of_the_same_key_never_both_go_on(storage: S3Storage) -> None:
    """Whichever of a whole upload's put and a multipart upload's reservation comes second sees the first."""
    ledger = storage.ledger
    # the reservation comes after the put: it sees the object and takes the next name
    key = storage.put_whole("x.bin", b"whole", set())
    assert key == "x.bin"
    assembly = reserve(storage, "late-upload", "x.bin", 8 * MIB)
    assert assembly.key == "x (1).bin"
    # the put comes after a reservation it did not see: recording it fails, nothing is recorded
    taken = storage.put_whole("x.bin", b"whole too", {"x.bin"})
    assert taken == "x (1).bin"  # (the reservation was not in the skip set the put was given)
    with pytest.raises(KeyTaken):
        ledger.add_done(str(uuid.uuid4()), "x.bin", 9, 9, "0" * 64, "t" * 32, taken, new_blob=True, free_key=True)
    assert _rows_of(ledger, "SELECT COUNT(*) AS n FROM uploads") == 0
    storage.abort_quietly(assembly.key, assembly.mpu)


def _rows_of(ledger: SqlLedger, sql: str) -> int:
    with ledger._read() as db:
        return int(db.execute(sql).fetchone()["n"])


def test_the_store_says_whether_it_takes_small_parts_and_strict_mode_never_asks(
    storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SeaweedFS refuses parts under 5 MiB (EntityTooSmall), as S3 does: there small chunks are joined into parts
    assert accepts_small_parts(storage) is False
    assert _keys(storage) == []  # the probe left nothing behind
    assert storage.call("list_multipart_uploads", Prefix=storage.full_key("")).get("Uploads", []) == []
    monkeypatch.setenv(STRICT_ENV, "1")
    unreachable = S3Storage("s3://nowhere/p", storage.ledger, "http://127.0.0.1:9")
    try:
        assert unreachable.small_parts() is False  # forced strict: the store is not asked at all
    finally:
        unreachable.close()


@pytest.mark.anyio
async def test_whole_uploads_past_the_memory_budget_are_stored_as_any_upload(
    storage: S3Storage, tmp_path: Path
) -> None:
    """Past the shared budget a whole upload goes to staging objects as it comes, then is recorded (with its tus
    offset for a tus creation) and finished as any upload; the files come out right, nothing is left over."""
    inbox = Inbox(DropConfig(storage=tmp_path / "s", chunks=tmp_path / "c", reserve_mb=0), storage, storage.ledger)
    inbox.held.limit = 150_000
    pieces = [_data(100_000, f"held{i}") for i in range(3)]
    sinks = [inbox.begin_whole(f"h{i}.bin", len(p)) for i, p in enumerate(pieces)]
    for sink, data in zip(sinks, pieces, strict=True):
        sink.write(data[:60_000])
        sink.write(data[60_000:])
    assert [s.on_disk for s in sinks] == [False, True, True]  # the first is held, the others spill
    for i, (sink, data) in enumerate(zip(sinks, pieces, strict=True)):
        info = await inbox.finish_whole(sink, tus_metadata=_meta(f"h{i}.bin") if i else None)
        assert (info["state"], info["sha256"]) == ("done", hashlib.sha256(data).hexdigest())
    assert inbox.held.used == 0
    found = storage.ledger.tus_get(sinks[2].upload_id)
    assert found is not None and found[1] == len(pieces[2])  # the tus offset, recorded with the upload
    assert {k: b"".join(storage.read(k, 0, 100_000)) for k in (f"h{i}.bin" for i in range(3))} == {
        f"h{i}.bin": data for i, data in enumerate(pieces)
    }
    assert [k for k in _keys(storage) if "/.incoming/" in k] == []
