"""tus concatenation and creation-defer-length with raw requests: parts joined into one final upload, lengths
given late, and every hostile case (unknown, foreign, unfinished or non-partial parts, sizes over the limit)."""

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

from codecalamity.drop.config import DropConfig
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger.sqlite import SqliteLedger
from codecalamity.drop.storage.local import LocalStorage

from .conftest import Server

TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {"Content-Type": "application/offset+octet-stream"}


def _data(n: int, seed: int = 7) -> bytes:
    return hashlib.shake_256(f"ext{seed}".encode()).digest(n)


def _meta(name: str) -> str:
    return "filename " + base64.b64encode(name.encode()).decode()


def _part(server: Server, data: bytes, *, send: bool = True, deferred: bool = False) -> str:
    """A partial upload of ``data`` (sent whole unless ``send`` is False); its path."""
    length = {"Upload-Defer-Length": "1"} if deferred else {"Upload-Length": str(len(data))}
    created = httpx.post(server.url + "files/", headers={**TUS, **length, "Upload-Concat": "partial"})
    assert created.status_code == 201, created.text
    path = str(created.headers["location"])
    if send:
        extra = {"Upload-Length": str(len(data))} if deferred else {}
        patched = _patch(server.origin + path, 0, data, **extra)
        assert patched.status_code == 204, patched.text
        assert "upload-sha256" not in patched.headers  # a part is never published on its own
    return path


def _patch(url: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.patch(url, content=body, headers={**TUS, **STREAM, "Upload-Offset": str(offset), **headers})


def _final(server: Server, paths: list[str], **headers: str) -> httpx.Response:
    concat = "final;" + " ".join(paths)
    return httpx.post(server.url + "files/", headers={**TUS, "Upload-Concat": concat, **headers})


def test_parts_join_into_one_final_upload_with_the_whole_files_sha256(server: Server) -> None:
    data = _data(3_000_001)
    cuts = [0, 1_000_000, 1_000_000, 2_500_000, len(data)]  # an empty part too
    pieces = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    created_with_data = httpx.post(  # creation-with-upload for a part
        server.url + "files/",
        content=pieces[0],
        headers={**TUS, **STREAM, "Upload-Length": str(len(pieces[0])), "Upload-Concat": "partial"},
    )
    assert created_with_data.status_code == 201
    paths = [
        created_with_data.headers["location"],
        _part(server, pieces[1]),
        _part(server, pieces[2], deferred=True),
        _part(server, pieces[3]),
    ]
    head = httpx.head(server.origin + paths[1], headers=TUS)
    assert head.headers["upload-concat"] == "partial"
    # tus-js-client names the parts by absolute URL; a path is as good
    final = _final(server, [server.origin + paths[0], *paths[1:]], **{"Upload-Metadata": _meta("whole.bin")})
    assert final.status_code == 201, final.text
    assert final.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"whole.bin": data}
    assert list(server.chunks.iterdir()) == []  # the parts are gone once joined
    assert httpx.get(server.origin + final.headers["upload-download"]).content == data

    url = server.origin + final.headers["location"]
    head = httpx.head(url, headers=TUS)
    assert head.headers["upload-length"] == head.headers["upload-offset"] == str(len(data))
    assert head.headers["upload-concat"] == "final;" + " ".join(paths)
    assert head.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    assert _patch(url, len(data), b"x").status_code == 403
    for path in paths:
        assert httpx.head(server.origin + path, headers=TUS).status_code == 404

    again = _final(server, [server.origin + paths[0], *paths[1:]])  # the reply was lost: ask again
    assert again.status_code == 201
    assert again.headers["location"] == final.headers["location"]
    assert again.headers["upload-sha256"] == final.headers["upload-sha256"]
    assert len(server.stored_files()) == 1


@pytest.mark.parametrize("backend", ["s3"])
def test_parts_join_on_object_storage_by_server_side_copies(server: Server) -> None:
    mib = 1024 * 1024
    data = _data(16 * mib + 12345, seed=9)
    # a part of more than one 8 MiB region, an empty one, a small one, and one the final's regions straddle
    cuts = [0, 9 * mib + 1, 9 * mib + 1, 9 * mib + 300_001, len(data)]
    paths = [_part(server, data[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    final = _final(server, paths, **{"Upload-Metadata": _meta("joined.bin")})
    assert final.status_code == 201, final.text
    assert final.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"joined.bin": data}
    assert httpx.get(server.origin + final.headers["upload-download"]).content == data
    assert server.s3 is not None
    assert server.s3.pieces() == []  # the parts' objects went once the final upload was stored
    prefix = server.s3.prefix + "/"
    assert server.s3.client.list_multipart_uploads(Bucket=server.s3.bucket, Prefix=prefix).get("Uploads", []) == []


def test_a_final_upload_takes_its_name_from_the_first_part_when_it_has_none(server: Server) -> None:
    created = httpx.post(
        server.url + "files/",
        headers={**TUS, "Upload-Length": "3", "Upload-Concat": "partial", "Upload-Metadata": _meta("from-part.txt")},
    )
    _patch(server.origin + created.headers["location"], 0, b"abc")
    assert _final(server, [created.headers["location"], _part(server, b"def")]).status_code == 201
    assert server.stored_files() == {"from-part.txt": b"abcdef"}


def test_hostile_final_uploads_are_refused_and_the_parts_stay_usable(server: Server) -> None:
    good = _part(server, b"0123456789")
    unfinished = _part(server, b"0123456789", send=False)
    _patch(server.origin + unfinished, 0, b"01234")
    deferred = _part(server, b"", send=False, deferred=True)
    whole = httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "4"}).headers["location"]
    _patch(server.origin + whole, 0, b"abcd")  # an ordinary (non-partial) upload, finished and stored
    finished_files = server.stored_files()
    for paths, why in [
        ([good, f"/files/{uuid.uuid4()}"], "there is no partial upload"),
        ([good, "http://elsewhere.example" + good], "not an upload on this server"),
        ([good, "/files/../../etc/passwd"], "not an upload on this server"),
        ([good, "/upload/" + good.rsplit("/", 1)[1]], "not an upload on this server"),
        ([good, "ftp://127.0.0.1/files/x"], "not an upload on this server"),
        ([good, whole], "not a partial upload"),
        ([good, unfinished], "not finished (5 bytes of 10)"),
        ([good, deferred], "not finished (0 bytes of an unknown length)"),
        ([good, good], "twice"),
        ([], "names no partial uploads"),
        ([good] * 300, "at most"),
    ]:
        response = _final(server, paths)
        assert response.status_code == 400, (paths, response.text)
        assert why in response.text
    assert _final(server, [good], **{"Upload-Length": "10"}).status_code == 400
    assert httpx.post(server.url + "files/", headers={**TUS, "Upload-Concat": "final"}).status_code == 400
    assert server.stored_files() == finished_files
    assert _patch(server.origin + unfinished, 5, b"56789").status_code == 204
    assert _final(server, [good, unfinished], **{"Upload-Metadata": _meta("ok.txt")}).status_code == 201
    assert server.stored_files()["ok.txt"] == b"01234567890123456789"


def test_parts_that_add_up_to_more_than_the_limit_are_413(serve: Callable[..., Server]) -> None:
    server = serve("--max-size", "1")  # 1 MiB
    half = _data(600_000)
    paths = [_part(server, half), _part(server, half)]
    response = _final(server, paths)
    assert response.status_code == 413
    assert server.stored_files() == {}
    assert httpx.head(server.origin + paths[0], headers=TUS).headers["upload-offset"] == "600000"


def test_a_checksum_on_a_part_is_checked(server: Server) -> None:
    path = _part(server, b"0123456789", send=False)
    sha1 = base64.b64encode(hashlib.sha1(b"01234").digest()).decode()
    assert _patch(server.origin + path, 0, b"0123X", **{"Upload-Checksum": f"sha1 {sha1}"}).status_code == 460
    assert httpx.head(server.origin + path, headers=TUS).headers["upload-offset"] == "0"
    assert _patch(server.origin + path, 0, b"01234", **{"Upload-Checksum": f"sha1 {sha1}"}).status_code == 204
    assert _patch(server.origin + path, 5, b"56789").status_code == 204
    assert _final(server, [path]).status_code == 201


def test_a_deferred_length_is_given_by_a_later_patch(serve: Callable[..., Server]) -> None:
    server = serve("-a", "--max-size", "1")
    data = _data(700_000)
    created = httpx.post(
        server.url + "files/", headers={**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": _meta("s.bin")}
    )
    assert created.status_code == 201
    url = server.origin + created.headers["location"]
    assert _patch(url, 0, data[:300_000]).status_code == 204
    head = httpx.head(url, headers=TUS)
    assert head.headers["upload-defer-length"] == "1" and "upload-length" not in head.headers
    assert head.headers["upload-offset"] == "300000"
    assert _patch(url, 300_000, b"", **{"Upload-Length": "1000"}).status_code == 400  # less than received
    assert _patch(url, 300_000, b"", **{"Upload-Length": str(2 * 1024 * 1024)}).status_code == 413
    assert _patch(url, 300_000, _data(800_000, seed=9)).status_code == 413  # still deferred: the limit applies
    assert httpx.head(url, headers=TUS).headers["upload-offset"] == "300000"
    assert _patch(url, 300_000, data[300_000:500_000]).status_code == 204
    last = _patch(url, 500_000, data[500_000:], **{"Upload-Length": str(len(data))})
    assert last.status_code == 204
    assert last.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    head = httpx.head(url, headers=TUS)
    assert head.headers["upload-length"] == str(len(data)) and "upload-defer-length" not in head.headers
    assert _patch(url, len(data), b"", **{"Upload-Length": "5"}).status_code == 409
    assert server.stored_files() == {"s.bin": data}


def test_a_deferred_empty_upload_and_a_length_that_cannot_change(server: Server) -> None:
    created = httpx.post(server.url + "files/", headers={**TUS, "Upload-Defer-Length": "1"})
    done = _patch(server.origin + created.headers["location"], 0, b"", **{"Upload-Length": "0"})
    assert done.headers["upload-sha256"] == hashlib.sha256(b"").hexdigest()
    fixed = httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "10"}).headers["location"]
    assert _patch(server.origin + fixed, 0, b"abc", **{"Upload-Length": "11"}).status_code == 400


def test_a_deferred_length_never_given_expires_like_other_partial_uploads(serve: Callable[..., Server]) -> None:
    server = serve("--partial-ttl", "1s")
    created = httpx.post(server.url + "files/", headers={**TUS, "Upload-Defer-Length": "1"})
    url = server.origin + created.headers["location"]
    assert _patch(url, 0, b"some bytes").status_code == 204
    part = _part(server, b"finished part, never joined")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (list(server.chunks.iterdir()) or httpx.head(url, headers=TUS).is_success):
        time.sleep(0.1)
    assert httpx.head(url, headers=TUS).status_code == 410  # ended unfinished: gone, and the reply says so
    assert httpx.head(server.origin + part, headers=TUS).status_code == 410  # a part never joined: unfinished too
    assert list(server.chunks.iterdir()) == []


def test_parts_claimed_by_a_final_upload_that_a_crash_interrupted_come_back(tmp_path: Path) -> None:
    config = DropConfig(storage=tmp_path / "s", chunks=tmp_path / "c").validate()
    storage = LocalStorage(config.storage, config.chunks)
    inbox = Inbox(config, storage, SqliteLedger(storage.ledger_path))
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for part_id, data in zip(ids, (b"abc", b"defg"), strict=True):
        storage.prepare(part_id, len(data))
        writer = storage.writer(part_id)
        writer.write_at(0, data)
        writer.close()
        inbox.ledger.tus_create(part_id, "p", len(data), "", "partial")
        inbox.ledger.tus_advance(part_id, len(data))
    assert inbox.ledger.tus_claim(ids)
    assert not inbox.ledger.tus_claim(ids[:1])  # claimed once only
    storage.concatenate("f" * 8 + "-0000-4000-8000-" + "0" * 12, [(ids[0], 3), (ids[1], 4)])
    inbox.recover()  # the server died here, before the final upload was recorded
    assert [inbox.ledger.get(part_id).state for part_id in ids] == ["partial", "partial"]  # type: ignore[union-attr]
    assert (tmp_path / "c" / f"{ids[1]}.part").read_bytes() == b"defg"
    assert inbox.expire(time.time() + config.partial_ttl + 1) == 3  # the parts, and the orphaned joined file
    assert list((tmp_path / "c").iterdir()) == []


@pytest.mark.parametrize("bad", ["final;/files/a b", "final;", "partial;x"])
def test_malformed_concat_headers_are_400(server: Server, bad: str) -> None:
    response = httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "1", "Upload-Concat": bad})
    assert response.status_code == 400


def test_refused_bytes_do_not_enter_the_reported_sha256(server: Server) -> None:
    # the running hash of an upload once kept the bytes of a PATCH refused with 460: the next PATCH resumed
    # from it, and the upload was published with a wrong sha256
    data = _data(20)
    url = server.origin + httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "20"}).headers["location"]
    assert _patch(url, 0, data[:10]).status_code == 204
    wrong = base64.b64encode(hashlib.sha1(b"not these bytes").digest()).decode()
    assert _patch(url, 10, b"x" * 10, **{"Upload-Checksum": f"sha1 {wrong}"}).status_code == 460
    last = _patch(url, 10, data[10:])
    assert last.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"upload": data}


def test_a_superscript_digit_is_not_a_length(server: Server) -> None:
    # Starlette reads header bytes as Latin-1, where b"\xb2" is "²": str.isdigit() says yes, int() says no
    for header in ("Upload-Length", "Upload-Offset"):
        created = httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "1"}).headers["location"]
        url = server.url + "files/" if header == "Upload-Length" else server.origin + created
        request = httpx.post if header == "Upload-Length" else httpx.patch
        response = request(url, headers={**TUS, **STREAM, "Upload-Offset": "0", header: b"\xb2"})  # type: ignore[operator]
        assert response.status_code == 400, response.text


def test_a_patch_that_takes_over_from_a_stalled_one_gets_the_right_sha256(server: Server) -> None:
    # found by benchmarks/soak.py: the running hash saved at a progress commit was the stalled request's own object,
    # which went on hashing bytes past the commit; the PATCH resuming from the committed offset started from it,
    # and the upload was published with a wrong sha256 (and recorded as a blob under it)
    data = _data(10_000_000)
    url = (
        server.origin
        + httpx.post(server.url + "files/", headers={**TUS, "Upload-Length": "10000000"}).headers["location"]
    )
    host, port = server.url.split("//")[1].rstrip("/").split(":")
    path = url.removeprefix(server.origin)
    stalled = socket.create_connection((host, int(port)))
    stalled.sendall(
        f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data[:6_000_000]
    )
    deadline = time.monotonic() + 10
    offset = 0
    while offset == 0 and time.monotonic() < deadline:  # a progress commit every 4 MiB
        offset = int(httpx.head(url, headers=TUS).headers["upload-offset"])
    assert 4 * 1024 * 1024 <= offset < 6_000_000
    last = _patch(url, offset, data[offset:])  # a retry takes over from the stalled request
    stalled.close()
    assert last.status_code == 204, last.text
    assert last.headers["upload-sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"upload": data}
