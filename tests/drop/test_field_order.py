"""Dropzone chunks whose file part comes before their dz* fields (curl ``-F file=@part -F dzuuid=...``)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from .conftest import Server, chunk_fields, send_chunk

CHUNK = 1000
BOUNDARY = "calamity-test-boundary"


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every case on the embedded backends and on SeaweedFS + PostgreSQL."""
    return str(request.param)


def _data(n: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"order{seed}".encode()).digest(n)


def multipart(parts: list[tuple[str, str | bytes, str | None]]) -> bytes:
    """A multipart/form-data body with ``parts`` (name, value, file name or None) in exactly this order."""
    out = b""
    for name, value, filename in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        if filename is None:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        else:
            out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
            out += b"Content-Type: application/octet-stream\r\n\r\n"
        out += value if isinstance(value, bytes) else value.encode()
        out += b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def post_file_first(
    client: httpx.Client,
    server: Server,
    upload_id: str,
    data: bytes,
    index: int,
    *,
    name: str = "f.bin",
    before: tuple[str, ...] = (),
    **overrides: str,
) -> httpx.Response:
    """One chunk with the file part first (the fields named in ``before`` go ahead of it, the rest after)."""
    fields = {**chunk_fields(upload_id, index, len(data), CHUNK), **overrides}
    piece = data[index * CHUNK : (index + 1) * CHUNK]
    parts: list[tuple[str, str | bytes, str | None]] = [(k, v, None) for k, v in fields.items() if k in before]
    parts.append(("file", piece, name))
    parts += [(k, v, None) for k, v in fields.items() if k not in before]
    return client.post(
        server.url + "upload",
        content=multipart(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def leftovers(server: Server) -> list[Path]:
    return list(server.chunks.iterdir())


def test_file_part_first_makes_one_file_not_pieces(server: Server) -> None:
    """The issue's case: three chunks sent curl-style were stored as f.bin, f (1).bin and f (2).bin."""
    data = _data(3 * CHUNK)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        replies = [post_file_first(client, server, uid, data, i) for i in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200], replies[-1].text
    assert [r.json()["state"] for r in replies] == ["partial", "partial", "done"]
    assert replies[-1].json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"f.bin": data}
    assert leftovers(server) == []


def test_orders_mixed_within_one_upload_and_out_of_order_chunks(server: Server) -> None:
    data = _data(4 * CHUNK + 321)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        # chunk 3 file-first, chunk 0 as Dropzone sends it, chunk 4 with only some fields ahead, ...
        assert post_file_first(client, server, uid, data, 3).status_code == 200
        assert send_chunk(client, server.url, uid, data, 0, CHUNK, name="f.bin").status_code == 200
        assert post_file_first(client, server, uid, data, 4, before=("dzuuid", "dzchunkindex")).status_code == 200
        assert server.stored_files() == {}
        assert post_file_first(client, server, uid, data, 2, before=("dztotalfilesize",)).status_code == 200
        last = post_file_first(client, server, uid, data, 1)
    assert last.status_code == 200, last.text
    assert last.json()["state"] == "done"
    assert server.stored_files() == {"f.bin": data}
    assert leftovers(server) == []


def test_file_first_duplicate_chunks(server: Server) -> None:
    data = _data(3 * CHUNK)
    uid = str(uuid.uuid4())
    with httpx.Client() as client:
        assert post_file_first(client, server, uid, data, 0).status_code == 200
        again = post_file_first(client, server, uid, data, 0)  # a retry: same bytes, counted once
        assert again.status_code == 200
        assert again.json()["received"] == [0]
        other = post_file_first(client, server, uid, _data(3 * CHUNK, seed=5), 0)
        assert other.status_code == 409
        assert "different content" in other.json()["error"]
        assert post_file_first(client, server, uid, data, 2).status_code == 200
        assert post_file_first(client, server, uid, data, 1).json()["state"] == "done"
        # the finished upload's chunk sent once more changes nothing
        assert post_file_first(client, server, uid, data, 1).status_code == 200
    assert server.stored_files() == {"f.bin": data}
    assert leftovers(server) == []


@pytest.mark.parametrize(
    ("overrides", "status", "says"),
    [
        ({"dzuuid": "../../etc/passwd"}, 400, "UUID"),
        ({"dzchunkindex": "-1"}, 400, "dzchunkindex"),
        ({"dzchunkindex": "9"}, 400, "out of range"),
        ({"dzchunkbyteoffset": "5"}, 400, "dzchunkbyteoffset"),
        ({"dztotalfilesize": str(10**15)}, 413, "limit"),
        ({"dzchunksize": "10"}, 400, "dztotalchunkcount"),
    ],
)
def test_hostile_fields_after_the_file_store_nothing(
    server: Server, tmp_path: Path, overrides: dict[str, str], status: int, says: str
) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if ".calamity-drop" not in p.name and p.suffix != ".log")
    with httpx.Client() as client:
        response = post_file_first(client, server, str(uuid.uuid4()), _data(3 * CHUNK), 0, **overrides)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    after = sorted(p for p in tmp_path.rglob("*") if ".calamity-drop" not in p.name and p.suffix != ".log")
    assert after == before


def test_missing_field_after_the_file_is_refused(server: Server) -> None:
    data = _data(2 * CHUNK)
    fields = chunk_fields(str(uuid.uuid4()), 0, len(data), CHUNK)
    del fields["dzchunkbyteoffset"]
    body = multipart([("file", data[:CHUNK], "f.bin"), *((k, v, None) for k, v in fields.items())])
    with httpx.Client() as client:
        response = client.post(
            server.url + "upload", content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        )
    assert response.status_code == 400
    assert "missing field dzchunkbyteoffset" in response.json()["error"]
    assert server.stored_files() == {}
    assert leftovers(server) == []


def test_a_field_given_twice_is_refused(server: Server) -> None:
    data = _data(2 * CHUNK)
    uid = str(uuid.uuid4())
    fields = chunk_fields(uid, 0, len(data), CHUNK)
    parts: list[tuple[str, str | bytes, str | None]] = [(k, v, None) for k, v in fields.items()]
    parts += [("file", data[:CHUNK], "f.bin"), ("dzchunkindex", "1", None)]
    with httpx.Client() as client:
        response = client.post(
            server.url + "upload",
            content=multipart(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        assert response.status_code == 400
        assert "dzchunkindex is given more than once" in response.json()["error"]
        assert client.get(f"{server.url}upload/{uid}").json()["received"] == []
    assert server.stored_files() == {}


def test_chunk_larger_than_announced_after_the_file(server: Server) -> None:
    uid = str(uuid.uuid4())
    fields = chunk_fields(uid, 0, 2 * CHUNK, CHUNK)
    body = multipart([("file", _data(CHUNK + 1), "f.bin"), *((k, v, None) for k, v in fields.items())])
    with httpx.Client() as client:
        response = client.post(
            server.url + "upload", content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        )
        assert response.status_code == 413
        assert client.get(f"{server.url}upload/{uid}").json()["received"] == []
    assert server.stored_files() == {}
    if server.s3 is None:  # a local disk keeps the upload's own partial file, and nothing held
        assert [p.name for p in leftovers(server)] == [f"{uid}.part"]


def test_plain_upload_with_other_fields_after_the_file(server: Server) -> None:
    data = _data(2500)
    body = multipart([("file", data, "note.txt"), ("comment", "for Ana", None)])
    with httpx.Client() as client:
        response = client.post(
            server.url + "upload", content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "done"
    assert server.stored_files() == {"note.txt": data}
    assert leftovers(server) == []


def test_large_file_part_first_spilled_to_storage(server: Server) -> None:
    """A file part past the in-memory limit goes to storage before its fields come, then is read back."""
    size = 3 * 1024 * 1024
    data = _data(2 * size, seed=9)
    uid = str(uuid.uuid4())
    with httpx.Client(timeout=60) as client:
        for index in (1, 0):
            fields = chunk_fields(uid, index, len(data), size)
            parts: list[tuple[str, str | bytes, str | None]] = [
                ("file", data[index * size : (index + 1) * size], "big.bin")
            ]
            parts += [(k, v, None) for k, v in fields.items()]
            reply = client.post(
                server.url + "upload",
                content=multipart(parts),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
            assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "done"
    assert reply.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {"big.bin": data}
    assert leftovers(server) == []
