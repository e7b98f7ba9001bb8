"""Fixtures for the drop server: a real `calamity drop` on a loopback port, and a chunk-sending helper."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclass
class Server:
    """A running `calamity drop` subprocess."""

    url: str
    storage: Path
    chunks: Path
    proc: subprocess.Popen[str]
    log: Path
    s3: S3Place | None = None
    """Where the bytes are when the server stores them in S3 instead of the storage folder."""

    @property
    def origin(self) -> str:
        """The URL without its trailing slash, to join with absolute paths."""
        return self.url.rstrip("/")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def stored_files(self) -> dict[str, bytes]:
        """Every visible file in storage, by name (the ledger and hidden folders excluded)."""
        if self.s3 is not None:
            return self.s3.files()
        return {p.name: p.read_bytes() for p in self.storage.iterdir() if p.is_file() and not p.name.startswith(".")}

    def remove_stored(self, name: str) -> None:
        """Delete a stored file behind the server's back."""
        if self.s3 is not None:
            self.s3.client.delete_object(Bucket=self.s3.bucket, Key=f"{self.s3.prefix}/{name}")
        else:
            (self.storage / name).unlink()


@dataclass
class S3Place:
    """A bucket and prefix in the test session's SeaweedFS."""

    client: Any
    bucket: str
    prefix: str

    def _keys(self) -> list[str]:
        found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + "/").get("Contents", [])
        return [str(item["Key"]) for item in found]

    def files(self) -> dict[str, bytes]:
        """Every published object (staging pieces excluded), by name."""
        out = {}
        for key in self._keys():
            name = key[len(self.prefix) + 1 :]
            if not name.startswith("."):
                out[name] = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return out

    def pieces(self) -> list[str]:
        """Staging objects still there."""
        return [k for k in self._keys() if k[len(self.prefix) + 1 :].startswith(".incoming/")]


def start_server(
    storage: Path,
    chunks: Path,
    *args: str,
    env: dict[str, str] | None = None,
    launcher: list[str] | None = None,
) -> Server:
    """Start `calamity drop` on a free loopback port and wait until it answers (``launcher`` instead of
    ``python -m codecalamity``: a program that runs the same command line its own way)."""
    cmd = [*(launcher or [sys.executable, "-m", "codecalamity"]), "drop", "-p", "0", "-s", str(storage)]
    cmd += ["-c", str(chunks), *args]
    log = storage.parent / f"server-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    url = None
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        match = re.search(r"Open (https?://127\.0\.0\.1:\d+/)", log.read_text())
        url = match.group(1) if match else time.sleep(0.05)
    if url is None:
        proc.kill()
        proc.wait()
        raise AssertionError("server did not start:\n" + log.read_text())
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "favicon.ico", timeout=2, verify=False).status_code == 200:
                return Server(url, storage, chunks, proc, log)
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server never answered")


@pytest.fixture
def backend() -> str:
    """Where servers keep uploads: ``local`` (folder + SQLite); a module overrides this to add ``s3``."""
    return "local"


@pytest.fixture
def serve(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """Start servers on tmp_path storage (or S3 + PostgreSQL); all are stopped at the end of the test."""
    servers: list[Server] = []
    extra: list[str] = []
    node_env: dict[str, str] = {}
    place = None
    if backend == "s3":
        from codecalamity.drop.services import s3_client

        s3_url, pg_url = request.getfixturevalue("s3_url"), request.getfixturevalue("pg_url")
        node_env = request.getfixturevalue("s3_env")
        extra = ["--storage", s3_url, "--ledger", pg_url]
        bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
        place = S3Place(s3_client(node_env["AWS_ENDPOINT_URL"]), bucket, prefix)

    def _start(
        *args: str,
        storage: Path | None = None,
        chunks: Path | None = None,
        env: dict[str, str] | None = None,
        **kw: object,
    ) -> Server:
        server = start_server(
            storage or tmp_path / "storage",
            chunks or tmp_path / "chunks",
            *args,
            *extra,
            env={**node_env, **(env or {})},
            **kw,  # type: ignore[arg-type]
        )
        server.s3 = place
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


@pytest.fixture
def server(serve: Callable[..., Server]) -> Server:
    """One server with downloads on."""
    return serve("-a")


def chunk_fields(
    upload_id: str, index: int, total: int, chunk_size: int, *, count: int | None = None, offset: int | None = None
) -> dict[str, str]:
    """Dropzone's fields for one chunk, as its params() function builds them."""
    return {
        "dzuuid": upload_id,
        "dzchunkindex": str(index),
        "dztotalfilesize": str(total),
        "dzchunksize": str(chunk_size),
        "dztotalchunkcount": str(count if count is not None else max(1, -(-total // chunk_size))),
        "dzchunkbyteoffset": str(offset if offset is not None else index * chunk_size),
    }


def send_chunk(
    client: httpx.Client,
    url: str,
    upload_id: str,
    data: bytes,
    index: int,
    chunk_size: int,
    *,
    name: str = "data.bin",
    **overrides: object,
) -> httpx.Response:
    """POST one chunk of ``data`` as Dropzone does: fields first, then the file part."""
    total = len(data)
    fields = chunk_fields(upload_id, index, total, chunk_size)
    for key, value in overrides.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = str(value)
    piece = data[index * chunk_size : (index + 1) * chunk_size]
    return client.post(url + "upload", data=fields, files={"file": (name, piece, "application/octet-stream")})


def upload_all(
    client: httpx.Client, url: str, upload_id: str, data: bytes, chunk_size: int, order: list[int]
) -> httpx.Response:
    """Send the chunks in ``order``; return the last response."""
    response = None
    for index in order:
        response = send_chunk(client, url, upload_id, data, index, chunk_size)
        assert response.status_code == 200, response.text
    assert response is not None
    return response


from .services import pg_url, postgres, s3_env, s3_url, seaweedfs, service_root  # noqa: E402, F401
