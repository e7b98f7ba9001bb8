"""A Dropzone upload that ended unfinished (expired, or its partial file lost) refuses its late chunks with 410
and a reason, instead of starting again under the same id and never becoming whole."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from codecalamity.drop.config import DropConfig
from codecalamity.drop.errors import DropError
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger.sqlite import SqliteLedger
from codecalamity.drop.storage.local import LocalStorage

from .conftest import Server, chunk_fields, send_chunk

CHUNK = 1000


@pytest.mark.anyio
async def test_a_late_chunk_of_an_expired_upload_is_refused(tmp_path: Path) -> None:
    config = DropConfig(storage=tmp_path / "s", chunks=tmp_path / "c", reserve_mb=0, partial_ttl=3600.0)
    storage = LocalStorage(config.storage, config.chunks)
    inbox = Inbox(config, storage, SqliteLedger(storage.ledger_path))
    uid = str(uuid.uuid4())
    sink = inbox.begin_chunk(chunk_fields(uid, 0, 3 * CHUNK, CHUNK), "a.bin")
    sink.write(b"a" * CHUNK)
    assert (await inbox.complete(sink))["received"] == [0]
    assert inbox.expire(time.time() + 3601) == 1
    with pytest.raises(DropError) as refused:
        inbox.begin_chunk(chunk_fields(uid, 1, 3 * CHUNK, CHUNK), "a.bin")
    assert refused.value.status == 410
    assert "nothing arrived for 1 h, so it expired" in str(refused.value)
    assert inbox.ledger.get(uid) is None and list((tmp_path / "c").iterdir()) == []
    inbox.expire(time.time() + 2 * 3600 + 1)  # the tombstone goes after one more TTL
    assert inbox.ledger.gone(uid) is None
    assert inbox.begin_chunk(chunk_fields(uid, 1, 3 * CHUNK, CHUNK), "a.bin") is not None


def test_the_server_refuses_the_rest_of_an_upload_that_expired_midway(serve: Callable[..., Server]) -> None:
    server = serve("--partial-ttl", "1s")
    data = bytes(range(256)) * 12  # 3 chunks
    uid = str(uuid.uuid4())
    with httpx.Client(timeout=10) as client:
        assert send_chunk(client, server.url, uid, data, 0, CHUNK).status_code == 200
        deadline = time.monotonic() + 15
        while list(server.chunks.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(server.chunks.iterdir()) == []
        late = send_chunk(client, server.url, uid, data, 1, CHUNK)
        assert late.status_code == 410
        assert "expired" in late.json()["error"] and "send the whole file again" in late.json()["error"]
        assert send_chunk(client, server.url, uid, data, 2, CHUNK).status_code == 410
        assert client.get(server.url + f"upload/{uid}").status_code == 404
    assert server.stored_files() == {}
    assert list(server.chunks.iterdir()) == []


def test_an_upload_whose_partial_file_was_lost_is_not_restarted(serve: Callable[..., Server]) -> None:
    server = serve()
    data = bytes(range(256)) * 12
    uid = str(uuid.uuid4())
    with httpx.Client(timeout=10) as client:
        assert send_chunk(client, server.url, uid, data, 0, CHUNK).status_code == 200
        (server.chunks / f"{uid}.part").unlink()  # behind the server's back
        late = send_chunk(client, server.url, uid, data, 1, CHUNK)
        assert late.status_code == 410 and "partial file on the server was lost" in late.json()["error"]
    assert server.stored_files() == {}
    assert list(server.chunks.iterdir()) == []


def test_a_tus_upload_that_expired_answers_410_with_the_reason(serve: Callable[..., Server]) -> None:
    server = serve("--partial-ttl", "1s")
    tus = {"Tus-Resumable": "1.0.0"}
    with httpx.Client(timeout=10) as client:
        created = client.post(server.url + "files/", headers={**tus, "Upload-Length": "10"})
        url = httpx.URL(server.url).join(created.headers["location"])
        patch = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        assert client.patch(url, headers=patch, content=b"abc").status_code == 204
        deadline = time.monotonic() + 15
        while client.head(url, headers=tus).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.head(url, headers=tus).status_code == 410
        late = client.patch(url, headers={**patch, "Upload-Offset": "3"}, content=b"defg")
        assert late.status_code == 410
        assert "expired" in late.text and "create a new upload" in late.text
        never = httpx.URL(server.url).join("/files/" + uuid.uuid4().hex)
        assert client.head(never, headers=tus).status_code == 404
    assert server.stored_files() == {} and list(server.chunks.iterdir()) == []
