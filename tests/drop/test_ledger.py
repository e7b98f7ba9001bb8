"""The ledger on both backends, SQLite and a real PostgreSQL: migrations, and what must hold across processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codecalamity._errors import UsageError
from codecalamity.drop.ledger import open_ledger
from codecalamity.drop.ledger.migrations import MIGRATIONS
from codecalamity.drop.ledger.sql import SqlLedger

Opener = Callable[[], SqlLedger]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens ledgers on one database (each call is another process's view of it); closes them after."""
    spec = str(tmp_path / "ledger.sqlite3")
    if request.param == "postgresql":
        spec = request.getfixturevalue("pg_url")
    opened: list[SqlLedger] = []

    def _open() -> SqlLedger:
        ledger = open_ledger(spec, tmp_path / "unused.sqlite3")
        opened.append(ledger)
        return ledger

    yield _open
    for ledger in opened:
        ledger.close()


def test_migrations_run_once_and_record_the_version(opener: Opener) -> None:
    first = opener()
    assert first.schema_version() == MIGRATIONS[-1].version
    first.create("u1", "a.bin", 10, 10, 1)
    second = opener()  # a second node opening the same database migrates nothing and loses nothing
    assert second.schema_version() == MIGRATIONS[-1].version
    assert second.get("u1") is not None


def test_nodes_starting_at_once_migrate_once(opener: Opener) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opener()
        except BaseException as err:  # collected and re-raised on the test thread
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert opener().schema_version() == MIGRATIONS[-1].version


def test_an_old_sqlite_ledger_is_brought_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE uploads (id TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL,"
        " chunk_size INTEGER NOT NULL, chunk_count INTEGER NOT NULL, state TEXT NOT NULL, sha256 TEXT,"
        " token TEXT UNIQUE, error TEXT, created REAL NOT NULL, updated REAL NOT NULL, finished REAL);"
        "INSERT INTO uploads VALUES ('old', 'kept.bin', 3, 3, 1, 'partial', NULL, NULL, NULL, 1, 1, NULL);"
    )
    db.commit()
    db.close()
    ledger = open_ledger(str(path), tmp_path / "unused")
    try:
        assert ledger.schema_version() == MIGRATIONS[-1].version
        upload = ledger.get("old")
        assert upload is not None and upload.name == "kept.bin"
        assert ledger.add_piece("old", 0, 3, "k") and ledger.pieces("old") == [(0, 3, "k")]
    finally:
        ledger.close()


def test_only_one_node_moves_an_upload_to_finishing(opener: Opener) -> None:
    a, b = opener(), opener()
    a.create("u", "f.bin", 5, 5, 1)
    results = [a.set_state("u", "finishing", expect="partial"), b.set_state("u", "finishing", expect="partial")]
    assert sorted(results) == [False, True]


def test_tus_offsets_advance_only_from_the_offset_a_writer_started_at(opener: Opener) -> None:
    a, b = opener(), opener()
    a.tus_create("t", "f.bin", 100, "")
    assert a.tus_advance("t", 40, expect=0)
    assert not b.tus_advance("t", 30, expect=0)  # a stale writer on another node cannot move the offset
    found = b.tus_get("t")
    assert found is not None and found[1] == 40


def test_a_piece_is_recorded_once(opener: Opener) -> None:
    a, b = opener(), opener()
    a.create("u", "f.bin", 10, 5, 2)
    assert a.add_piece("u", 0, 5, "first")
    assert not b.add_piece("u", 0, 5, "second")
    assert b.pieces("u") == [(0, 5, "first")]


def test_the_same_content_stored_twice_keeps_one_record(opener: Opener) -> None:
    a, b = opener(), opener()
    assert a.add_blob("sha", "one.bin", 3) == "one.bin"
    assert b.add_blob("sha", "two.bin", 3) == "one.bin"  # the loser learns which copy to keep
    assert b.add_blob("sha", "three.bin", 3, replace="one.bin") == "three.bin"  # the recorded file had gone
    assert a.blob("sha") == ("three.bin", 3)


def test_finishing_needs_the_stored_file_still_recorded(opener: Opener) -> None:
    a = opener()
    a.create("u", "f.bin", 3, 3, 1)
    assert not a.finish("u", "nosuch", "tok")
    a.add_blob("sha", "f.bin", 3)
    assert a.finish("u", "sha", "tok")
    assert a.drop_blob_if_unused("sha") is None  # a finished upload uses it
    a.delete("u")
    assert a.drop_blob_if_unused("sha") == "f.bin"


def test_each_stale_upload_is_deleted_by_exactly_one_sweeper(opener: Opener) -> None:
    nodes = [opener() for _ in range(3)]
    nodes[0].create("s", "f.bin", 3, 3, 1)
    seen = [n.stale("partial", before=2e10) for n in nodes]
    assert all(len(s) == 1 for s in seen)
    assert [n.delete_if_unchanged(s[0]) for n, s in zip(nodes, seen, strict=True)].count(True) == 1
    assert nodes[1].get("s") is None


def test_a_touched_upload_is_not_swept(opener: Opener) -> None:
    a = opener()
    a.create("s", "f.bin", 6, 3, 2)
    (seen,) = a.stale("partial", before=2e10)
    a.add_chunk("s", 0, 3, "x")  # a chunk arrives after the sweeper looked
    assert not a.delete_if_unchanged(seen)
    assert a.get("s") is not None


def test_a_claim_is_exclusive_and_released(opener: Opener) -> None:
    a = opener()
    # a SQLite ledger belongs to one process, which holds its claims; PostgreSQL's are the server's
    b = opener() if a.dialect.name == "postgresql" else a
    with a.claim("finish:u") as mine:
        assert mine
        with b.claim("finish:u") as theirs:
            assert not theirs
    with b.claim("finish:u") as theirs:
        assert theirs


def test_other_databases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="postgresql"):
        open_ledger("mysql://x@y/z", tmp_path / "l")
