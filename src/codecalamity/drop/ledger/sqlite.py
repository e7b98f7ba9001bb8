"""The SQLite ledger (WAL): every upload, every received chunk, and every stored file by sha256.

One connection, guarded by one lock, owns all writes: the request handlers and the finishing thread each
hold it only for one short statement or transaction.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codecalamity.drop.ledger import Upload

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    chunk_size  INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('partial', 'finishing', 'done', 'failed')),
    sha256      TEXT,
    token       TEXT UNIQUE,
    error       TEXT,
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    finished    REAL
);
CREATE TABLE IF NOT EXISTS chunks (
    upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    PRIMARY KEY (upload_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    sha256  TEXT PRIMARY KEY,
    path    TEXT NOT NULL UNIQUE,
    size    INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_state ON uploads(state, updated);
CREATE TABLE IF NOT EXISTS tus (
    upload_id TEXT PRIMARY KEY REFERENCES uploads(id) ON DELETE CASCADE,
    offset    INTEGER NOT NULL,
    metadata  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tus_ext (
    upload_id TEXT PRIMARY KEY REFERENCES uploads(id) ON DELETE CASCADE,
    concat    TEXT,
    deferred  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""
# tus_ext: only for tus uploads that use an extension. concat is 'partial' or the final's 'final;<id> <id> ...';
# deferred is 1 while the length is unknown (creation-defer-length; uploads.size is 0 until then).


class _Refused(Exception):
    """Rolls a transaction back when one of its conditions does not hold."""


class SqliteLedger:
    """The drop box's bookkeeping in one SQLite file.

    Parameters
    ----------
    path
        The database file; created with its schema when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        _add_stored_column(self._db)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # uploads ---------------------------------------------------------------------------------------------

    def get(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return Upload(**row) if row else None

    def by_token(self, token: str) -> Upload | None:
        """The finished upload that this download token was issued for, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM uploads WHERE token = ? AND state = 'done'", (token,)).fetchone()
        return Upload(**row) if row else None

    def create(self, upload_id: str, name: str, size: int, chunk_size: int, chunk_count: int) -> Upload:
        """Record a new upload, or return the one with this id that already exists."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO uploads (id, name, size, chunk_size, chunk_count, state, created, updated)"
                " VALUES (?, ?, ?, ?, ?, 'partial', ?, ?)",
                (upload_id, name, size, chunk_size, chunk_count, now, now),
            )
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return Upload(**row)

    def in_state(self, state: str) -> list[Upload]:
        """Every upload in ``state``."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM uploads WHERE state = ?", (state,)).fetchall()
        return [Upload(**row) for row in rows]

    def set_state(self, upload_id: str, state: str, *, expect: str | None = None, error: str | None = None) -> bool:
        """Move an upload to ``state`` (only from ``expect`` when given); True when the row changed."""
        sql = "UPDATE uploads SET state = ?, error = ?, updated = ? WHERE id = ?"
        args: tuple[object, ...] = (state, error, time.time(), upload_id)
        if expect is not None:
            sql += " AND state = ?"
            args += (expect,)
        with self._tx() as db:
            return db.execute(sql, args).rowcount == 1

    def finish(self, upload_id: str, sha256: str, token: str, stored: str | None = None) -> None:
        """Mark an upload done with its content hash, download token and the key it is visible under."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE uploads SET state = 'done', sha256 = ?, token = ?, stored = ?, error = NULL, finished = ?,"
                " updated = ? WHERE id = ?",
                (sha256, token, stored, now, now, upload_id),
            )

    def add_done(
        self,
        upload_id: str,
        name: str,
        size: int,
        chunk_size: int,
        sha256: str,
        token: str,
        stored: str,
        *,
        tus_metadata: str | None = None,
        new_blob: bool = False,
    ) -> Upload | None:
        """Record, in one transaction, an upload that arrived whole and is stored as ``stored``: the upload (done),
        its one chunk, its tus offset (with ``tus_metadata``) and, with ``new_blob``, the stored content.
        None, recording nothing, when an upload with this id exists already."""
        now = time.time()
        with self._tx() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO uploads (id, name, size, chunk_size, chunk_count, state, sha256, token,"
                " created, updated, finished, stored) VALUES (?, ?, ?, ?, 1, 'done', ?, ?, ?, ?, ?, ?)",
                (upload_id, name, size, chunk_size, sha256, token, now, now, now, stored),
            ).rowcount
            if inserted != 1:
                return None
            db.execute(
                "INSERT INTO chunks (upload_id, idx, size, sha256) VALUES (?, 0, ?, ?)", (upload_id, size, sha256)
            )
            if tus_metadata is not None:
                db.execute(
                    "INSERT INTO tus (upload_id, offset, metadata) VALUES (?, ?, ?)", (upload_id, size, tus_metadata)
                )
            if new_blob:
                db.execute(
                    "INSERT OR REPLACE INTO blobs (sha256, path, size, created) VALUES (?, ?, ?, ?)",
                    (sha256, stored, size, now),
                )
        return Upload(upload_id, name, size, chunk_size, 1, "done", sha256, token, None, now, now, now, stored)

    def stored_as(self, sha256: str, name: str) -> str | None:
        """The key of a finished upload with this content under this name, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT stored FROM uploads WHERE sha256 = ? AND name = ? AND state = 'done' AND stored IS NOT NULL"
                " LIMIT 1",
                (sha256, name),
            ).fetchone()
        return str(row[0]) if row else None

    def release_stored(self, sha256: str, key: str) -> bool:
        """After an upload stored as ``key`` was deleted: True when no finished upload shows ``key`` any more.

        The content's record then moves to another upload's key that shares it, or goes when none does.
        """
        with self._tx() as db:
            (users,) = db.execute("SELECT COUNT(*) FROM uploads WHERE stored = ? AND state = 'done'", (key,)).fetchone()
            (older,) = db.execute(  # finished before uploads had their own key: they show the content's key
                "SELECT COUNT(*) FROM uploads u JOIN blobs b ON b.sha256 = u.sha256"
                " WHERE u.sha256 = ? AND u.stored IS NULL AND u.state = 'done' AND b.path = ?",
                (sha256, key),
            ).fetchone()
            if users or older:
                return False
            other = db.execute(
                "SELECT stored FROM uploads WHERE sha256 = ? AND state = 'done' AND stored IS NOT NULL LIMIT 1",
                (sha256,),
            ).fetchone()
            if other is None:
                db.execute("DELETE FROM blobs WHERE sha256 = ? AND path = ?", (sha256, key))
            else:
                db.execute("UPDATE blobs SET path = ? WHERE sha256 = ? AND path = ?", (other[0], sha256, key))
        return True

    def delete(self, upload_id: str) -> None:
        """Forget an upload and its chunks."""
        with self._tx() as db:
            db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    def stale(self, state: str, before: float, column: str = "updated") -> list[Upload]:
        """Uploads in ``state`` whose ``column`` (``updated`` or ``finished``) is older than ``before``."""
        if column not in ("updated", "finished"):
            raise ValueError(column)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM uploads WHERE state = ? AND {column} < ?", (state, before)
            ).fetchall()
        return [Upload(**row) for row in rows]

    # chunks ----------------------------------------------------------------------------------------------

    def chunk_sha(self, upload_id: str, idx: int) -> str | None:
        """The sha256 of a received chunk, or None when it has not been received."""
        with self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM chunks WHERE upload_id = ? AND idx = ?", (upload_id, idx)
            ).fetchone()
        return str(row[0]) if row else None

    def add_chunk(self, upload_id: str, idx: int, size: int, sha256: str) -> int:
        """Record a received chunk (once); return how many distinct chunks the upload now has."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO chunks (upload_id, idx, size, sha256) VALUES (?, ?, ?, ?)",
                (upload_id, idx, size, sha256),
            )
            db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))
            (count,) = db.execute("SELECT COUNT(*) FROM chunks WHERE upload_id = ?", (upload_id,)).fetchone()
        return int(count)

    def received(self, upload_id: str) -> list[int]:
        """The indexes of the chunks received so far, in order."""
        with self._lock:
            rows = self._db.execute("SELECT idx FROM chunks WHERE upload_id = ? ORDER BY idx", (upload_id,)).fetchall()
        return [int(row[0]) for row in rows]

    # tus -------------------------------------------------------------------------------------------------

    def tus_create(
        self, upload_id: str, name: str, size: int, metadata: str, concat: str | None = None, deferred: bool = False
    ) -> Upload:
        """Record a new tus upload (offset 0) and return it as recorded; ``concat`` and ``deferred`` as in
        :meth:`tus_extras`."""
        now = time.time()
        upload = Upload(upload_id, name, size, max(size, 1), 1, "partial", None, None, None, now, now, None, None)
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads (id, name, size, chunk_size, chunk_count, state, created, updated)"
                " VALUES (?, ?, ?, ?, 1, 'partial', ?, ?)",
                (upload_id, name, size, upload.chunk_size, now, now),
            )
            db.execute("INSERT INTO tus (upload_id, offset, metadata) VALUES (?, 0, ?)", (upload_id, metadata))
            if concat is not None or deferred:
                db.execute(
                    "INSERT INTO tus_ext (upload_id, concat, deferred) VALUES (?, ?, ?)", (upload_id, concat, deferred)
                )
        return upload

    def tus_get(self, upload_id: str) -> tuple[Upload, int, str] | None:
        """A tus upload with its committed offset and its raw Upload-Metadata, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.*, t.offset AS tus_offset, t.metadata AS tus_metadata FROM uploads u"
                " JOIN tus t ON t.upload_id = u.id WHERE u.id = ?",
                (upload_id,),
            ).fetchone()
        if row is None:
            return None
        fields = {k: row[k] for k in row.keys() if not k.startswith("tus_")}
        return Upload(**fields), int(row["tus_offset"]), str(row["tus_metadata"])

    def tus_advance(self, upload_id: str, offset: int) -> None:
        """Commit the bytes received up to ``offset``."""
        with self._tx() as db:
            db.execute("UPDATE tus SET offset = ? WHERE upload_id = ?", (offset, upload_id))
            db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))

    # tus extensions: concatenation and creation-defer-length ------------------------------------------------

    def tus_extras(self, upload_id: str) -> tuple[str | None, bool]:
        """A tus upload's concatenation role (None, ``partial`` or ``final;<ids>``) and whether its length is
        still deferred."""
        with self._lock:
            row = self._db.execute("SELECT concat, deferred FROM tus_ext WHERE upload_id = ?", (upload_id,)).fetchone()
        return (None, False) if row is None else (row[0], bool(row[1]))

    def tus_set_length(self, upload_id: str, size: int) -> None:
        """Give a deferred-length upload its length."""
        with self._tx() as db:
            db.execute(
                "UPDATE uploads SET size = ?, chunk_size = ?, updated = ? WHERE id = ?",
                (size, max(size, 1), time.time(), upload_id),
            )
            db.execute("UPDATE tus_ext SET deferred = 0 WHERE upload_id = ?", (upload_id,))

    def tus_claim(self, part_ids: list[str]) -> bool:
        """Move complete partial uploads to ``finishing`` for one final upload: all of them, or none (False)."""
        try:
            with self._tx() as db:
                for part_id in part_ids:
                    changed = db.execute(
                        "UPDATE uploads SET state = 'finishing', updated = ? WHERE id = ? AND state = 'partial'"
                        " AND size = (SELECT offset FROM tus WHERE upload_id = ?) AND EXISTS (SELECT 1 FROM tus_ext"
                        " WHERE upload_id = ? AND concat = 'partial' AND deferred = 0)",
                        (time.time(), part_id, part_id, part_id),
                    ).rowcount
                    if changed != 1:
                        raise _Refused(part_id)
        except _Refused:
            return False
        return True

    def tus_join(self, final_id: str, name: str, size: int, metadata: str, concat: str, part_ids: list[str]) -> None:
        """Record a final upload whose bytes are all there (joined from ``part_ids``), and forget the parts."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads (id, name, size, chunk_size, chunk_count, state, created, updated)"
                " VALUES (?, ?, ?, ?, 1, 'partial', ?, ?)",
                (final_id, name, size, max(size, 1), now, now),
            )
            db.execute("INSERT INTO tus (upload_id, offset, metadata) VALUES (?, ?, ?)", (final_id, size, metadata))
            db.execute("INSERT INTO tus_ext (upload_id, concat, deferred) VALUES (?, ?, 0)", (final_id, concat))
            db.execute("INSERT INTO chunks (upload_id, idx, size, sha256) VALUES (?, 0, ?, '')", (final_id, size))
            db.executemany("DELETE FROM uploads WHERE id = ?", [(part_id,) for part_id in part_ids])

    # blobs -----------------------------------------------------------------------------------------------

    def blob(self, sha256: str) -> tuple[str, int] | None:
        """``(path, size)`` of the stored file with this content, or None."""
        with self._lock:
            row = self._db.execute("SELECT path, size FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def add_blob(self, sha256: str, path: str, size: int) -> None:
        """Record a stored file (replacing a record whose file has gone)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO blobs (sha256, path, size, created) VALUES (?, ?, ?, ?)",
                (sha256, path, size, time.time()),
            )

    def drop_blob_if_unused(self, sha256: str) -> str | None:
        """Forget a stored file that no finished upload refers to; return its path then, else None."""
        with self._tx() as db:
            (users,) = db.execute(
                "SELECT COUNT(*) FROM uploads WHERE sha256 = ? AND state = 'done'", (sha256,)
            ).fetchone()
            if users:
                return None
            row = db.execute("SELECT path FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
            db.execute("DELETE FROM blobs WHERE sha256 = ?", (sha256,))
        return str(row[0]) if row else None


def _add_stored_column(db: sqlite3.Connection) -> None:
    """Schema step: ``uploads.stored``, the key each finished upload is visible under (ledgers made before
    every upload got its own name have the column added, empty: those uploads fall back to the content's key)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(uploads)")}
    if "stored" not in columns:
        db.execute("ALTER TABLE uploads ADD COLUMN stored TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS uploads_sha256 ON uploads(sha256)")
