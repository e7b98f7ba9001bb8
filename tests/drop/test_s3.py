"""The drop server on S3 (a real SeaweedFS) and PostgreSQL: the same protocols, bytes in object storage."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

import httpx
import pytest

from .conftest import Server, upload_all

MIB = 1024 * 1024


def _data(n: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(f"s3-{seed}".encode()).digest(n)


@pytest.fixture
def s3_node(serve: Callable[..., Server], s3_url: str, pg_url: str, s3_env: dict[str, str]) -> Server:
    return serve("-a", "--storage", s3_url, "--ledger", pg_url, env=s3_env)


def test_dropzone_chunks_out_of_order_become_one_object(s3_node: Server) -> None:
    data = _data(3 * MIB + 123)
    uid = str(uuid.uuid4())
    with httpx.Client(timeout=60) as client:
        last = upload_all(client, s3_node.url, uid, data, 1_000_000, [3, 1, 0, 2])
        body = last.json()
        assert body["state"] == "done" and body["sha256"] == hashlib.sha256(data).hexdigest()
        got = client.get(s3_node.origin + body["download"])
        assert got.status_code == 200 and got.content == data
        part = client.get(s3_node.origin + body["download"], headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
