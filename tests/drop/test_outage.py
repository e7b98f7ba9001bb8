"""SeaweedFS or PostgreSQL stopped mid-upload, or SeaweedFS while an upload is being finished: a clear 503 with
Retry-After, nothing published, and the upload resumes (or finishes) when the service is back."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from codecalamity.drop import services

from .conftest import S3Place, Server, send_chunk

pytestmark = pytest.mark.slow
CHUNK = 1_000_000


def _data(n: int, seed: int) -> bytes:
    return hashlib.shake_256(f"outage-{seed}".encode()).digest(n)


@pytest.fixture
def own_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="calamity-outage-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _unavailable(reply: httpx.Response) -> None:
    assert reply.status_code == 503, reply.text
    assert int(reply.headers["retry-after"]) > 0


def _finish(client: httpx.Client, server: Server, uid: str, data: bytes, indexes: list[int]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    for index in indexes:
        while True:  # as the page does: retry after Retry-After until the service is back
            reply = send_chunk(client, server.url, uid, data, index, CHUNK)
            if reply.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert reply.status_code == 200, reply.text
    body: dict[str, str] = reply.json()
    return body


def test_object_store_down_then_back(
    serve: Callable[..., Server], own_root: Path, pg_url: str, s3_env: dict[str, str]
) -> None:
    weed = services.start_seaweedfs(own_root / "seaweedfs")
    try:
        env = {**s3_env, "AWS_ENDPOINT_URL": weed.url}
        server = serve("-a", "--storage", "s3://calamity/outage", "--ledger", pg_url, env=env)
        place = S3Place(services.s3_client(weed.url), "calamity", "outage")
        data, uid = _data(3 * CHUNK, 1), str(uuid.uuid4())
        with httpx.Client(timeout=60) as client:
            assert send_chunk(client, server.url, uid, data, 0, CHUNK).status_code == 200
            weed.kill()
            _unavailable(send_chunk(client, server.url, uid, data, 1, CHUNK))
            status = client.get(server.url + f"upload/{uid}").json()
            assert status["received"] == [0]  # the failed chunk was not counted
            weed = services.start_seaweedfs(own_root / "seaweedfs", s3_port=weed.port)
            body = _finish(client, server, uid, data, [1, 2])
            assert body["sha256"] == hashlib.sha256(data).hexdigest()
            assert client.get(server.origin + body["download"]).content == data
        assert place.files() == {"data.bin": data}
    finally:
        weed.stop()


def test_ledger_down_then_back(
    serve: Callable[..., Server], own_root: Path, s3_url: str, s3_env: dict[str, str]
) -> None:
    pg = services.start_postgres(own_root / "postgres", durable=False)
    try:
        server = serve("-a", "--storage", s3_url, "--ledger", pg.url, env=s3_env)
        place = S3Place(services.s3_client(s3_env["AWS_ENDPOINT_URL"]), *s3_url.removeprefix("s3://").split("/", 1))
        data, uid = _data(3 * CHUNK, 2), str(uuid.uuid4())
        with httpx.Client(timeout=60) as client:
            assert send_chunk(client, server.url, uid, data, 0, CHUNK).status_code == 200
            pg.stop()
            _unavailable(send_chunk(client, server.url, uid, data, 1, CHUNK))
            tus = client.post(server.url + "files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5"})
            _unavailable(tus)
            assert place.files() == {}  # nothing half-published
            pg = services.start_postgres(own_root / "postgres", port=pg.port, durable=False)
            body = _finish(client, server, uid, data, [1, 2])
            assert body["sha256"] == hashlib.sha256(data).hexdigest()
            assert client.get(server.origin + body["download"]).content == data
        assert place.files() == {"data.bin": data}
    finally:
        pg.stop()


@contextlib.contextmanager
def _finishing_paused(ledger: str, upload_id: str) -> Iterator[Callable[[], bool]]:
    """Hold the finish of ``upload_id`` where it records its multipart upload (a row the test has inserted and not
    committed); yields a check that a node is waiting there. Leaving the block lets the node go on."""
    with psycopg.connect(ledger) as conn:
        conn.execute(
            "INSERT INTO assemblies (upload_id, key, mpu, part_size, created) VALUES (%s, %s, 'held', 1, 0)",
            (upload_id, f"held-{upload_id}"),
        )

        def waiting() -> bool:
            with psycopg.connect(ledger, autocommit=True) as other:
                row = other.execute(
                    "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE NOT l.granted AND a.query LIKE 'INSERT INTO assemblies%%'"
                ).fetchone()
            return bool(row and row[0])

        yield waiting
        conn.rollback()


def _wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_object_store_gone_while_finishing(
    serve: Callable[..., Server], own_root: Path, pg_url: str, s3_env: dict[str, str]
) -> None:
    weed = services.start_seaweedfs(own_root / "seaweedfs")
    try:
        env = {**s3_env, "AWS_ENDPOINT_URL": weed.url}
        server = serve("-a", "--storage", "s3://calamity/finish", "--ledger", pg_url, env=env)
        place = S3Place(services.s3_client(weed.url), "calamity", "finish")
        data, uid = _data(3 * CHUNK, 3), str(uuid.uuid4())
        with httpx.Client(timeout=60) as client:
            for index in (0, 1):
                assert send_chunk(client, server.url, uid, data, index, CHUNK).status_code == 200
            replies: list[httpx.Response] = []

            def send_last() -> None:
                with httpx.Client(timeout=60) as own:
                    replies.append(send_chunk(own, server.url, uid, data, 2, CHUNK))

            with _finishing_paused(pg_url, uid) as waiting:
                last = threading.Thread(target=send_last)
                last.start()
                _wait_for(waiting)  # the node is finishing: every chunk is stored, the parts are not made yet
                weed.kill()
            last.join(60)
            _unavailable(replies[0])
            assert "object store" in replies[0].json()["error"]
            status = client.get(server.url + f"upload/{uid}").json()
            assert (status["state"], status["received"]) == ("partial", [0, 1, 2])
            weed = services.start_seaweedfs(own_root / "seaweedfs", s3_port=weed.port)
            assert place.files() == {}  # nothing half-published
            body = _finish(client, server, uid, data, [2])  # the page sends the last chunk again
            assert body["sha256"] == hashlib.sha256(data).hexdigest()
            assert client.get(server.origin + body["download"]).content == data
        assert place.files() == {"data.bin": data}
        assert place.pieces() == []
    finally:
        weed.stop()
