"""A server killed (SIGKILL) after a finished upload appeared under its name but before the ledger recorded it.

The next start removes the file nobody recorded (its sender was never told it was stored) and finishes a
chunked upload again from its partial file, so that every upload shows under its own name, never as
``name (1)`` beside an orphan.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import Server, send_chunk, start_server

# The real server, whose ledger kills the process the moment it would record a finished upload: the file is
# published by then (the crash point this test is about).
DIE_AT_RECORD = """
import os, signal, sys
from codecalamity.drop.ledger.sql import SqlLedger

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

setattr(SqlLedger, sys.argv.pop(1), die)
from codecalamity.cli import main
sys.argv[0] = "calamity"
main()
"""


def dying_server(tmp_path: Path, method: str) -> Server:
    return start_server(
        tmp_path / "storage", tmp_path / "chunks", "-a", launcher=[sys.executable, "-c", DIE_AT_RECORD, method]
    )


def intents(storage: Path) -> int:
    with sqlite3.connect(storage / ".calamity-drop.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM publishing").fetchone()[0])


def tus_whole(url: str, name: str, data: bytes) -> httpx.Response:
    """A tus creation carrying the whole file (as the page sends every small file)."""
    meta = "filename " + __import__("base64").b64encode(name.encode()).decode()
    return httpx.post(
        url + "files/",
        content=data,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=30,
    )


@pytest.mark.parametrize("again", ["new", "linked"])
def test_a_whole_upload_killed_before_its_record_is_sent_again_under_its_name(
    serve: Callable[..., Server], tmp_path: Path, again: str
) -> None:
    data = hashlib.shake_256(b"report").digest(100_000)
    if again == "linked":  # the same content is stored already under another name: the new name is a link
        first = serve("-a")
        assert tus_whole(first.url, "other.pdf", data).status_code == 201
        first.stop()
    dying = dying_server(tmp_path, "add_done")
    with pytest.raises(httpx.TransportError):
        tus_whole(dying.url, "report.pdf", data)
    assert dying.proc.wait(timeout=15) == -signal.SIGKILL
    assert "report.pdf" in dying.stored_files()  # visible, with no ledger row: what the crash leaves
    assert intents(dying.storage) == 1

    server = serve("-a")
    expected = {"other.pdf": data} if again == "linked" else {}
    assert server.stored_files() == expected  # the orphan went at start-up
    assert intents(server.storage) == 0
    response = tus_whole(server.url, "report.pdf", data)
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Sha256"] == hashlib.sha256(data).hexdigest()
    assert server.stored_files() == {**expected, "report.pdf": data}  # not "report (1).pdf"


def test_a_chunked_upload_killed_before_its_record_is_finished_at_start(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    data = hashlib.shake_256(b"chunked").digest(250_000)
    upload_id = str(uuid.uuid4())
    dying = dying_server(tmp_path, "finish")
    with httpx.Client(timeout=30) as client:
        for index in range(2):
            assert send_chunk(client, dying.url, upload_id, data, index, 100_000, name="big.bin").status_code == 200
        with pytest.raises(httpx.TransportError):
            send_chunk(client, dying.url, upload_id, data, 2, 100_000, name="big.bin")
    assert dying.proc.wait(timeout=15) == -signal.SIGKILL
    assert dying.stored_files() == {"big.bin": data}
    assert intents(dying.storage) == 1

    server = serve("-a")
    assert server.stored_files() == {"big.bin": data}  # removed, then finished again under its own name
    status = httpx.get(server.url + f"upload/{upload_id}", timeout=10).json()
    assert (status["state"], status["sha256"]) == ("done", hashlib.sha256(data).hexdigest())
    assert intents(server.storage) == 0
    with httpx.Client(timeout=30) as client:  # the sender, never told, sends the last chunk again
        again = send_chunk(client, server.url, upload_id, data, 2, 100_000, name="big.bin")
    assert again.status_code == 200 and again.json()["state"] == "done"
    assert server.stored_files() == {"big.bin": data}
