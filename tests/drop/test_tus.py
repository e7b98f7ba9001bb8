"""tus 1.0 on the same server: a standard client (tuspy) unchanged, interrupted and resumed, and every error."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from .conftest import Server


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """The whole suite, hostile input included, on the embedded backends and on SeaweedFS + PostgreSQL."""
    return str(request.param)


TUS = {"Tus-Resumable": "1.0.0"}


def _data(n: int, seed: int = 5) -> bytes:
    return hashlib.shake_256(f"tus{seed}".encode()).digest(n)


def _create(server: Server, length: int, name: str = "t.bin", **headers: str) -> httpx.Response:
    meta = "filename " + base64.b64encode(name.encode()).decode()
    return httpx.post(
        server.url + "files/", headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta, **headers}
    )


def _patch(url: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.patch(
        url,
        content=body,
        headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **headers},
    )


def test_options_discovery(server: Server) -> None:
    response = httpx.options(server.url + "files/")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
        "creation-defer-length",
        "concatenation",
    }
    assert "sha1" in response.headers["tus-checksum-algorithm"]
    assert int(response.headers["tus-max-size"]) > 0


def test_tuspy_uploads_is_interrupted_and_resumes_across_a_restart(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    data = _data(3_000_000)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    first = serve("-a")
    client = tus_client.TusClient(first.url + "files/")
    with open(path, "rb") as stream:  # given as a stream, which tuspy leaves to us to close
        uploader = client.uploader(
            file_stream=stream, chunk_size=700_000, upload_checksum=True, metadata={"filename": "file.bin"}
        )
        uploader.upload_chunk()
        uploader.upload_chunk()
        url_path = httpx.URL(uploader.url).path
    first.stop()  # interrupted: the server goes away mid-upload

    second = serve("-a")
    with open(path, "rb") as stream:
        resumed = tus_client.TusClient(second.url + "files/").uploader(
            file_stream=stream, url=second.url.rstrip("/") + url_path, chunk_size=1_000_000, upload_checksum=True
        )
        assert resumed.offset == 1_400_000
        resumed.upload()
    assert second.stored_files() == {"file.bin": data}
    head = httpx.head(second.url.rstrip("/") + url_path, headers=TUS)
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(data))
    assert head.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()


def test_creation_with_upload_and_download(server: Server) -> None:
    data = _data(5000)
    meta = "filename " + base64.b64encode("ñame.txt".encode()).decode()
    response = httpx.post(
        server.url + "files/",
        content=data,
        headers={
            **TUS,
            "Upload-Length": "5000",
            "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 201
    assert response.headers["upload-offset"] == "5000"
    assert response.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    assert httpx.get(server.origin + response.headers["upload-download"]).content == data
    assert server.stored_files() == {"ñame.txt": data}


def test_wrong_offset_is_409_and_nothing_changes(server: Server) -> None:
    url = server.origin + _create(server, 100).headers["location"]
    assert _patch(url, 0, b"a" * 40).status_code == 204
    assert _patch(url, 10, b"b" * 10).status_code == 409
    assert _patch(url, 50, b"b" * 10).status_code == 409
    assert httpx.head(url, headers=TUS).headers["upload-offset"] == "40"


def test_a_patch_cut_off_mid_body_keeps_what_arrived(server: Server) -> None:
    data = _data(10_000)
    url = server.origin + _create(server, len(data)).headers["location"]
    host, port = server.origin.split("//")[1].split(":")
    path = url[len(server.origin) :]
    with socket.create_connection((host, int(port))) as sock:  # announces 6000 bytes, sends 2000, hangs up
        sock.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: 6000\r\n\r\n".encode()
            + data[:2000]
        )
        # the scenario: a client cut off a moment after its last bytes went out (bytes that arrive together with
        # the hang-up may be dropped by the HTTP server before the request reads them; the client resends those)
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    offset = ""
    while time.monotonic() < deadline and offset != "2000":  # the server notices the hang-up asynchronously
        offset = httpx.head(url, headers=TUS).headers["upload-offset"]
        time.sleep(0.05)
    assert offset == "2000"
    assert _patch(url, 2000, data[2000:]).status_code == 204
    assert server.stored_files() == {"t.bin": data}


def test_unknown_and_hostile_upload_ids_are_404(server: Server) -> None:
    for upload_id in (str(uuid.uuid4()), "..%2F..%2Fetc", "x" * 500):
        assert httpx.head(server.url + "files/" + upload_id, headers=TUS).status_code == 404
        assert _patch(server.url + "files/" + upload_id, 0, b"x").status_code == 404


def test_missing_or_wrong_tus_resumable_is_412(server: Server) -> None:
    bad = httpx.post(server.url + "files/", headers={"Upload-Length": "10"})
    assert bad.status_code == 412 and bad.headers["tus-version"] == "1.0.0"
    wrong = httpx.post(server.url + "files/", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"})
    assert wrong.status_code == 412


def test_oversize_is_413(serve: Callable[..., Server]) -> None:
    server = serve("--max-size", "1")
    assert _create(server, 2 * 1024 * 1024).status_code == 413
    url = server.origin + _create(server, 10).headers["location"]
    assert _patch(url, 0, b"x" * 11).status_code == 413
    assert httpx.head(url, headers=TUS).headers["upload-offset"] == "0"


def test_bad_checksum_is_460_and_the_bytes_are_discarded(server: Server) -> None:
    url = server.origin + _create(server, 20).headers["location"]
    good = base64.b64encode(hashlib.sha1(b"0123456789").digest()).decode()
    assert _patch(url, 0, b"0123456789", **{"Upload-Checksum": f"sha1 {good}"}).status_code == 204
    response = _patch(url, 10, b"xxxxxxxxxx", **{"Upload-Checksum": f"sha1 {good}"})
    assert response.status_code == 460
    assert httpx.head(url, headers=TUS).headers["upload-offset"] == "10"
    assert _patch(url, 10, b"abcdefghij", **{"Upload-Checksum": "crc32 AAAA"}).status_code == 400


def test_termination_and_expiry_headers(server: Server) -> None:
    created = _create(server, 100)
    assert "upload-expires" in created.headers
    url = server.origin + created.headers["location"]
    _patch(url, 0, b"x" * 10)
    assert httpx.delete(url, headers=TUS).status_code == 204
    assert httpx.head(url, headers=TUS).status_code == 404
    assert list(server.chunks.iterdir()) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Length": "-1"},
        {"Upload-Length": "abc"},
        {"Upload-Length": "1" * 40},
        {"Upload-Metadata": "filename !!notbase64"},
        {},
        {"Upload-Defer-Length": "0"},
        {"Upload-Defer-Length": "1", "Upload-Length": "10"},
        {"Upload-Length": "10", "Upload-Concat": "whole"},
    ],
)
def test_bad_creation_requests_are_400(server: Server, headers: dict[str, str]) -> None:
    base = {**TUS, "Upload-Length": "10"} if "Upload-Length" not in headers and headers else dict(TUS)
    response = httpx.post(server.url + "files/", headers={**base, **headers})
    assert response.status_code == 400


def test_password_applies_to_tus(serve: Callable[..., Server]) -> None:
    server = serve("--password", "pw")
    assert _create(server, 10).status_code == 401
    ok = httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "0"}, auth=("u", "pw"))
    assert ok.status_code == 201
