"""`calamity drop send`: parallel, resumes an interrupted upload, verifies sha256, says which files failed."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from codecalamity.drop import send
from codecalamity.drop.services import s3_client

from .conftest import S3Place, Server

CALAMITY = [sys.executable, "-m", "codecalamity"]


def _send(server: Server, *args: str, state: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALAMITY_SEND_STATE": str(state)}
    return subprocess.run(
        [*CALAMITY, "drop", "send", *args, "--to", server.url], capture_output=True, text=True, env=env, timeout=120
    )


def test_sends_many_files_in_parallel_and_verifies(server: Server, tmp_path: Path) -> None:
    files = {}
    for i in range(12):
        data = hashlib.shake_256(str(i).encode()).digest(1000 * (i + 1))
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(data)
        files[path.name] = data
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # over the single-request size: create, then PATCH
    files["big.bin"] = big.read_bytes()
    result = _send(server, *(str(tmp_path / n) for n in files), "-j", "4", state=tmp_path / "state.json")
    assert result.returncode == 0, result.stderr
    assert server.stored_files() == files
    assert result.stdout.count("sent ") == 13
    assert hashlib.sha256(files["big.bin"]).hexdigest() in result.stdout


def test_resumes_an_interrupted_send(server: Server, tmp_path: Path) -> None:
    data = os.urandom(12 * 1024 * 1024)
    path = tmp_path / "slow.bin"
    path.write_bytes(data)
    state = tmp_path / "state.json"
    env = {**os.environ, "CALAMITY_SEND_STATE": str(state)}
    proc = subprocess.Popen(
        [*CALAMITY, "drop", "send", str(path), "--to", server.url, "--limit-rate", "8M"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    url = None
    while time.monotonic() < deadline:
        if state.exists() and state.read_text().count("/files/"):
            url = state.read_text().split('"')[3]
            offset = int(httpx.head(url, headers={"Tus-Resumable": "1.0.0"}).headers["upload-offset"])
            if offset > 0:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # interrupted mid-upload
    proc.wait(timeout=10)
    assert url is not None
    assert server.stored_files() == {}

    result = _send(server, str(path), state=state)
    assert result.returncode == 0, result.stderr
    assert "resumed at" in result.stdout
    resumed_at = int(result.stdout.split("resumed at ")[1].split()[0])
    assert 0 < resumed_at < len(data)
    assert server.stored_files() == {"slow.bin": data}
    assert "/files/" not in state.read_text()  # forgotten once done


def test_failures_are_listed_and_exit_1(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve("--max-size", "1")
    ok, too_big = tmp_path / "ok.bin", tmp_path / "big.bin"
    ok.write_bytes(b"fine")
    too_big.write_bytes(b"x" * (2 * 1024 * 1024))
    result = _send(server, str(ok), str(too_big), state=tmp_path / "s.json")
    assert result.returncode == 1
    assert "failed: " in result.stderr and "big.bin" in result.stderr and "413" in result.stderr
    assert server.stored_files() == {"ok.bin": b"fine"}


def test_password(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve("--password", "pw")
    path = tmp_path / "a.txt"
    path.write_bytes(b"secret stuff")
    denied = _send(server, str(path), state=tmp_path / "s.json")
    assert denied.returncode == 1 and "password" in denied.stderr
    allowed = _send(server, str(path), "--password", "pw", state=tmp_path / "s.json")
    assert allowed.returncode == 0
    assert server.stored_files() == {"a.txt": b"secret stuff"}


def _joined_parts(server: Server) -> list[int]:
    """How many parts each final (concatenated) upload on the server was joined from."""
    with sqlite3.connect(server.storage / ".calamity-drop.sqlite3") as db:
        rows = db.execute("SELECT concat FROM tus_ext WHERE concat LIKE 'final;%'").fetchall()
    return [len(row[0].split()) for row in rows]


def test_one_big_file_over_several_streams(server: Server, tmp_path: Path) -> None:
    data = os.urandom(65 * 1024 * 1024 + 3)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    small = tmp_path / "small.bin"  # under 64 MiB: one stream whatever --streams says
    small.write_bytes(b"tiny")
    result = _send(server, str(path), str(small), "--streams", "4", state=tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(data).hexdigest() in result.stdout
    assert server.stored_files() == {"big.bin": data, "small.bin": b"tiny"}
    assert _joined_parts(server) == [4]
    assert list(server.chunks.iterdir()) == []


def test_resumes_an_interrupted_multi_stream_send(server: Server, tmp_path: Path) -> None:
    data = os.urandom(64 * 1024 * 1024)
    path = tmp_path / "parts.bin"
    path.write_bytes(data)
    state = tmp_path / "state.json"
    env = {**os.environ, "CALAMITY_SEND_STATE": str(state)}
    cmd = [*CALAMITY, "drop", "send", str(path), "--to", server.url, "--streams", "3", "--limit-rate", "16M"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    sent = 0
    while time.monotonic() < deadline and sent < 8 * 1024 * 1024:
        if state.exists() and "parts " in state.read_text():
            urls = state.read_text().split("parts ")[1].split('"')[0].split()
            sent = sum(int(httpx.head(u, headers={"Tus-Resumable": "1.0.0"}).headers["upload-offset"]) for u in urls)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert sent > 0 and server.stored_files() == {}

    result = _send(server, str(path), "--streams", "3", state=state)
    assert result.returncode == 0, result.stderr
    assert 0 < int(result.stdout.split("resumed at ")[1].split()[0]) < len(data)
    assert server.stored_files() == {"parts.bin": data}
    assert _joined_parts(server) == [3]
    assert "parts " not in state.read_text()


def test_a_slow_finish_is_waited_for_not_reported_as_a_mismatch(
    serve: Callable[..., Server],
    tmp_path: Path,
    pg_url: str,
    s3_url: str,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server takes longer to store the file than the client waits for the last PATCH's reply: the client
    asks until the file is stored (the reply to the PATCH never comes in time)."""
    server = serve("--storage", s3_url, "--ledger", pg_url, env=s3_env)
    data = os.urandom(9 * 1024 * 1024)  # over the single-request size: created, then one PATCH
    path = tmp_path / "slow-finish.bin"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(send, "FINISH_READ", 1.0)
    asking = threading.Event()

    class Watched(send.Sender):
        def _stored(self, url: str) -> send.Reply:
            asking.set()
            return super()._stored(url)

    with psycopg.connect(pg_url) as conn:
        # the finish stops where it records the new content, until this transaction ends
        conn.execute("INSERT INTO blobs (sha256, path, size, created) VALUES (%s, 'held', %s, 0)", (sha, len(data)))
        sender = Watched(server.url, None, send.ResumeState(tmp_path / "state.json"))
        results: list[send.Sent] = []
        thread = threading.Thread(target=lambda: results.append(sender.send(path, lambda n: None)))
        thread.start()
        deadline = time.monotonic() + 60
        while not asking.is_set():  # the PATCH's reply did not come within FINISH_READ
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        conn.rollback()
    thread.join(60)
    sender.close()
    (result,) = results
    assert result.ok, result.error
    assert result.sha256 == sha
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    assert S3Place(s3_client(s3_env["AWS_ENDPOINT_URL"]), bucket, prefix).files() == {"slow-finish.bin": data}
