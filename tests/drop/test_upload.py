"""Uploads through a real server on loopback: chunked, plain, duplicated, hostile; downloads by token only."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import Server, send_chunk, upload_all


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """The whole suite, hostile input included, on the embedded backends and on SeaweedFS + PostgreSQL."""
    return str(request.param)


CHUNK = 1000


def _data(n: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"{seed}".encode()).digest(n)


def test_chunks_in_any_order_make_the_exact_file(server: Server) -> None:
    data = _data(4500)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        last = upload_all(client, server.url, uid, data, CHUNK, [3, 0, 4, 2, 1])
    info = last.json()
    assert info["state"] == "done"
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"data.bin": data}
    assert list(server.chunks.iterdir()) == []


def test_file_appears_only_when_complete(server: Server) -> None:
    data = _data(3000)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        upload_all(client, server.url, uid, data, CHUNK, [0, 2])
        assert server.stored_files() == {}
        status = client.get(f"{server.url}upload/{uid}").json()
        assert status["state"] == "partial"
        assert status["received"] == [0, 2]
        assert "token" not in status
        upload_all(client, server.url, uid, data, CHUNK, [1])
    assert server.stored_files() == {"data.bin": data}


def test_retried_chunk_is_counted_once(server: Server) -> None:
    """The tutorial counted a retried chunk twice and finished early with a hole."""
    data = _data(3000)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        upload_all(client, server.url, uid, data, CHUNK, [0, 0, 1, 1])
        assert server.stored_files() == {}
        last = upload_all(client, server.url, uid, data, CHUNK, [2, 2])
    assert last.json()["state"] == "done"
    assert server.stored_files() == {"data.bin": data}


def test_same_chunk_with_different_bytes_is_a_conflict(server: Server) -> None:
    data = _data(3000)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        upload_all(client, server.url, uid, data, CHUNK, [0])
        other = _data(3000, seed=9)
        response = send_chunk(client, server.url, uid, other, 0, CHUNK)
        assert response.status_code == 409
        assert "different content" in response.json()["error"]
        upload_all(client, server.url, uid, data, CHUNK, [1, 2])
    assert server.stored_files() == {"data.bin": data}


def test_chunk_larger_than_announced(server: Server) -> None:
    uid = str(uuid.uuid4())
    fields = {
        "dzuuid": uid,
        "dzchunkindex": "0",
        "dztotalfilesize": "2000",
        "dzchunksize": "1000",
        "dztotalchunkcount": "2",
        "dzchunkbyteoffset": "0",
    }
    with httpx.Client() as client:
        response = client.post(server.url + "upload", data=fields, files={"file": ("a", b"x" * 1500)})
        assert response.status_code == 413
        short = client.post(server.url + "upload", data=fields, files={"file": ("a", b"x" * 10)})
        assert short.status_code == 400
        assert client.get(f"{server.url}upload/{uid}").json()["received"] == []


def test_more_chunks_than_the_count(server: Server) -> None:
    data = _data(2000)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        response = send_chunk(client, server.url, uid, data + data, 3, CHUNK, dztotalfilesize=2000, dztotalchunkcount=2)
    assert response.status_code == 400
    assert "out of range" in response.json()["error"]


def test_chunk_that_disagrees_with_the_upload(server: Server) -> None:
    data = _data(3000)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        upload_all(client, server.url, uid, data, CHUNK, [0])
        response = send_chunk(client, server.url, uid, _data(4000), 1, CHUNK)
    assert response.status_code == 409


@pytest.mark.parametrize("bad_id", ["../../etc", "/etc/passwd", "a" * 10_000, "1234", "..", "%2e%2e"])
def test_hostile_upload_ids_write_nothing(server: Server, tmp_path: Path, bad_id: str) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if ".calamity-drop" not in p.name)
    with httpx.Client() as client:
        response = send_chunk(client, server.url, str(uuid.uuid4()), _data(100), 0, CHUNK, dzuuid=bad_id)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "UUID" in error or "dzuuid" in error
    after = sorted(p for p in tmp_path.rglob("*") if ".calamity-drop" not in p.name)
    assert after == before


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../../escape.txt", "escape.txt"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("NUL.txt", "_NUL.txt"),
        ("<script>alert(1)<\\script>.html", "script_.html"),
        ("x" * 10_000 + ".bin", "x" * 196 + ".bin"),
    ],
)
def test_hostile_file_names_stay_inside_storage(server: Server, tmp_path: Path, name: str, stored: str) -> None:
    data = _data(1500)
    with httpx.Client() as client:
        for index in (0, 1):
            response = send_chunk(client, server.url, str(uuid.UUID(int=7)), data, index, CHUNK, name=name)
            assert response.status_code == 200, response.text
    assert server.stored_files() == {stored: data}
    outside = [
        p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(server.storage) and p.suffix != ".log"
    ]
    assert outside == []


def test_total_over_max_size_is_refused_before_any_byte(serve: Callable[..., Server]) -> None:
    server = serve("--max-size", "1")
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        response = send_chunk(client, server.url, uid, _data(100), 0, 100, dztotalfilesize=2 * 1024 * 1024)
        assert response.status_code == 413
        plain = client.post(server.url + "upload", files={"file": ("big", _data(1024 * 1024 + 1))})
        assert plain.status_code == 413
    assert server.stored_files() == {}
    assert list(server.chunks.iterdir()) == []


def test_plain_multipart_upload(server: Server) -> None:
    data = _data(5000)
    with httpx.Client() as client:
        response = client.post(server.url + "upload", files={"file": ("plain.txt", data)})
        assert response.status_code == 200
        info = response.json()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert client.get(server.origin + info["download"]).content == data
        empty = _raw_upload(client, server, b'Content-Disposition: form-data; name="x"\r\n\r\n1')
        assert empty.status_code == 400
        assert empty.json()["error"] == "No file provided"
        not_form = client.post(server.url + "upload", content=b"raw")
        assert not_form.status_code == 400
    assert server.stored_files() == {"plain.txt": data}


def test_downloads_by_token_with_range_and_dedup(server: Server) -> None:
    data = _data(3000)
    with httpx.Client() as client:
        first = client.post(server.url + "upload", files={"file": ("first.bin", data)}).json()
        second = client.post(server.url + "upload", files={"file": ("Ünïcode; x=1.bin", data)}).json()
        assert first["token"] != second["token"]
        assert server.stored_files() == {"first.bin": data, "Ünïcode; x=1.bin": data}

        one = client.get(server.origin + first["download"])
        assert one.content == data
        assert 'filename="first.bin"' in one.headers["content-disposition"]
        two = client.get(server.origin + second["download"])
        assert two.content == data
        assert "filename*=utf-8''%C3%9Cn%C3%AFcode%3B%20x%3D1.bin" in two.headers["content-disposition"]

        part = client.get(server.origin + first["download"], headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == data[100:200]

        # no prefix match, no guessing, no upload id
        assert client.get(server.url + "download/" + first["token"][:10]).status_code == 404
        assert client.get(server.url + "download/" + first["id"]).status_code == 404
        assert client.get(server.url + "download/..%2F..%2Fetc%2Fpasswd").status_code == 404

        server.remove_stored("first.bin")
        assert client.get(server.origin + first["download"]).status_code == 404
        assert client.get(server.origin + second["download"]).content == data  # its own name is still there


def test_every_upload_visible_under_its_name_content_stored_once(server: Server) -> None:
    """report.pdf and then the same bytes as report-final.pdf: both appear, as one file on a local disk (hard
    links)."""
    data = _data(5000)
    other = _data(5000, seed=3)
    with httpx.Client() as client:
        replies = [
            client.post(server.url + "upload", files={"file": (name, content)}).json()
            for name, content in (
                ("report.pdf", data),
                ("report-final.pdf", data),
                ("report.pdf", data),  # the same content under the same name again adds nothing
                ("report.pdf", other),  # another content under a taken name gets a new name
            )
        ]
        uid = str(uuid.uuid4())
        chunked = upload_all(client, server.url, uid, data, CHUNK, [4, 0, 3, 1, 2])  # Dropzone chunks: same rule
    assert all(r["state"] == "done" for r in replies)
    assert len({r["id"] for r in replies}) == 4  # one ledger row per upload
    assert chunked.json()["state"] == "done"
    assert server.stored_files() == {
        "report.pdf": data,
        "report-final.pdf": data,
        "report (1).pdf": other,
        "data.bin": data,
    }
    if server.s3 is None:  # object stores have no hard links: there each name is a server-side copy
        inode = (server.storage / "report.pdf").stat()
        assert inode.st_nlink == 3
        for name in ("report-final.pdf", "data.bin"):
            assert (server.storage / name).stat().st_ino == inode.st_ino
    with httpx.Client() as client:
        for reply in replies:
            assert client.get(server.origin + reply["download"]).content == (other if reply is replies[3] else data)


def test_downloads_are_off_by_default(serve: Callable[..., Server]) -> None:
    server = serve()
    with httpx.Client() as client:
        info = client.post(server.url + "upload", files={"file": ("a.bin", b"abc")}).json()
        assert "download" not in info
        assert client.get(f"{server.url}download/{info['token']}").status_code == 404


def test_name_collisions_never_overwrite(server: Server) -> None:
    with httpx.Client() as client:
        for i in range(3):
            assert client.post(server.url + "upload", files={"file": ("same.txt", _data(10, i))}).status_code == 200
    assert server.stored_files() == {
        "same.txt": _data(10, 0),
        "same (1).txt": _data(10, 1),
        "same (2).txt": _data(10, 2),
    }


def test_password_protects_page_and_uploads(serve: Callable[..., Server]) -> None:
    server = serve(env={"CALAMITY_DROP_PASSWORD": "s3cret"})
    with httpx.Client() as client:
        assert client.get(server.url).status_code == 401
        assert client.post(server.url + "upload", files={"file": ("a", b"x")}).status_code == 401
        wrong = client.post(server.url + "upload", files={"file": ("a", b"x")}, auth=("u", "nope"))
        assert wrong.status_code == 401
        assert client.get(server.url, auth=("anyone", "s3cret")).status_code == 200
        ok = client.post(server.url + "upload", files={"file": ("a", b"x")}, auth=("u", "s3cret"))
        assert ok.status_code == 200
    assert server.stored_files() == {"a": b"x"}


def test_page_and_assets_are_served_locally(server: Server) -> None:
    with httpx.Client() as client:
        page = client.get(server.url)
        assert page.status_code == 200
        assert "/static/vendor/dropzone/5.9.3/min/dropzone.min.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        js = client.get(server.url + "static/vendor/dropzone/5.9.3/min/dropzone.min.js")
        assert js.status_code == 200 and b"Dropzone" in js.content
        assert client.get(server.url + "favicon.ico").headers["content-type"].startswith("image/svg")


def _raw_upload(client: httpx.Client, server: Server, part: bytes) -> httpx.Response:
    body = b"--XyZ\r\n" + part + b"\r\n--XyZ--\r\n"
    return client.post(
        server.url + "upload", content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
    )


def test_control_characters_and_nul_in_a_raw_file_name(server: Server, tmp_path: Path) -> None:
    part = b'Content-Disposition: form-data; name="file"; filename="../a\x00b\x1bc\x7f.txt"\r\n\r\npayload'
    with httpx.Client() as client:
        response = _raw_upload(client, server, part)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "abc.txt"
    assert server.stored_files() == {"abc.txt": b"payload"}


def test_truncated_multipart_body_stores_nothing(server: Server) -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="t.bin"\r\n\r\nhalf of it'
    with httpx.Client() as client:
        response = client.post(
            server.url + "upload", content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
        )
    assert response.status_code == 400
    assert server.stored_files() == {}
    assert list(server.chunks.iterdir()) == []


def test_outside_dropzone_copy_is_allowed_by_the_page_policy(serve: Callable[..., Server]) -> None:
    server = serve("--dz-cdn", "https://cdn.example.org/libs/dropzone", "--dz-version", "5.7.6")
    page = httpx.get(server.url)
    assert 'src="https://cdn.example.org/libs/dropzone/5.7.6/min/dropzone.min.js"' in page.text
    assert "script-src 'self' https://cdn.example.org;" in page.headers["content-security-policy"]
