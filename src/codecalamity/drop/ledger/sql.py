"""Every ledger query, written once for SQLite and PostgreSQL; the backends supply connections and locks.

What must hold across processes and machines is stated in SQL, so the database enforces it: finishing is a
compare-and-set of the state, tus offsets advance only from the offset the writer started at, a chunk or a
piece is recorded once (primary keys), a content hash has one stored file (primary key plus upsert), and
the sweeper deletes an upload only if it is still the stale row it saw, so each is removed exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from codecalamity.drop.ledger import Upload
from codecalamity.drop.ledger.assemblies import AssemblyQueries
from codecalamity.drop.ledger.blobs import BlobQueries
from codecalamity.drop.ledger.db import Db, insert_pieces, upload_row
from codecalamity.drop.ledger.gone import GoneQueries
from codecalamity.drop.ledger.migrations import MIGRATIONS, VERSIONS_TABLE, Dialect
from codecalamity.drop.ledger.publishing import KeyTaken, PublishingQueries
from codecalamity.drop.ledger.tus import TusQueries

if TYPE_CHECKING:
    from codecalamity.drop.storage import Piece


class SqlLedger(AssemblyQueries, BlobQueries, GoneQueries, PublishingQueries, TusQueries):
    """The drop box's bookkeeping: uploads, chunks, tus offsets, object-store pieces and stored files.

    Subclasses provide :meth:`_tx` (a write transaction), :meth:`_read` (a consistent read),
    :meth:`_migration_lock` and :meth:`claim`.
    """

    dialect: Dialect
    single_process = False
    """True when one process owns the ledger (SQLite): whatever it did not finish before it started is dead."""

    def _migration_lock(self, db: Db) -> None:
        """Inside the migration transaction: keep other processes out until it ends."""

    def claim(self, key: str) -> AbstractContextManager[bool]:
        """Hold ``key`` exclusively across processes while the block runs; yields False when another has it."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connections."""

    # schema ----------------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations this database has not seen; return its schema version."""
        with self._tx() as db:
            self._migration_lock(db)
            db.execute(VERSIONS_TABLE.format(real=self.dialect.real))
            done = {int(r["version"]) for r in db.execute("SELECT version FROM schema_migrations").fetchall()}
            for step in MIGRATIONS:
                if step.version in done:
                    continue
                for statement in step.statements(self.dialect):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", (step.version, time.time())
                )
        return MIGRATIONS[-1].version

    def schema_version(self) -> int:
        """The highest migration applied."""
        with self._read() as db:
            row = db.execute("SELECT MAX(version) AS v FROM schema_migrations").fetchone()
        return int(row["v"] or 0)

    # uploads ---------------------------------------------------------------------------------------------

    def get(self, upload_id: str) -> Upload | None:
        """The upload with this id, or None."""
        with self._read() as db:
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return upload_row(row) if row else None

    def by_token(self, token: str) -> Upload | None:
        """The finished upload that this download token was issued for, or None."""
        with self._read() as db:
            row = db.execute("SELECT * FROM uploads WHERE token = ? AND state = 'done'", (token,)).fetchone()
        return upload_row(row) if row else None

    def create(self, upload_id: str, name: str, size: int, chunk_size: int, chunk_count: int) -> Upload:
        """Record a new upload, or return the one with this id that already exists."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads (id, name, size, chunk_size, chunk_count, state, created, updated)"
                " VALUES (?, ?, ?, ?, ?, 'partial', ?, ?) ON CONFLICT (id) DO NOTHING",
                (upload_id, name, size, chunk_size, chunk_count, now, now),
            )
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return upload_row(row)

    def in_state(self, state: str) -> list[Upload]:
        """Every upload in ``state``."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM uploads WHERE state = ?", (state,)).fetchall()
        return [upload_row(row) for row in rows]

    def set_state(self, upload_id: str, state: str, *, expect: str | None = None, error: str | None = None) -> bool:
        """Move an upload to ``state`` (only from ``expect`` when given); True when the row changed."""
        sql = "UPDATE uploads SET state = ?, error = ?, updated = ? WHERE id = ?"
        args: tuple[object, ...] = (state, error, time.time(), upload_id)
        if expect is not None:
            sql += " AND state = ?"
            args += (expect,)
        with self._tx() as db:
            return db.execute(sql, args).rowcount == 1

    def finish(
        self, upload_id: str, sha256: str, token: str, stored: str | None = None, *, intent: str | None = None
    ) -> bool:
        """Mark an upload done with its content hash, download token and the key it is visible under.

        Returns False, changing nothing, when no stored file is recorded for ``sha256`` (the sweeper removed
        it meanwhile): the caller stores the content again. The blob row is share-locked, so it cannot be
        dropped as unused between this check and the upload becoming its user. ``intent`` is the publication
        (see :meth:`intend`) that this record completes.
        """
        now = time.time()
        with self._tx() as db:
            held = db.execute(
                "SELECT sha256 FROM blobs WHERE sha256 = ?" + self.dialect.lock_for_share, (sha256,)
            ).fetchone()
            if held is None:
                return False
            db.execute(
                "UPDATE uploads SET state = 'done', sha256 = ?, token = ?, stored = ?, error = NULL, finished = ?,"
                " updated = ? WHERE id = ?",
                (sha256, token, stored, now, now, upload_id),
            )
            if intent is not None:
                self.published(intent, db)
        return True

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
        intent: str | None = None,
        free_key: bool = False,
        existing: Upload | None = None,
    ) -> Upload | None:
        """Record, in one transaction, an upload that arrived whole and is stored as ``stored``: the upload (done),
        its one chunk, its tus offset (with ``tus_metadata``) and, with ``new_blob``, the stored content.
        None, recording nothing, when an upload with this id exists already. ``intent`` is the publication
        (see :meth:`intend`) that this record completes.

        With ``free_key`` (an object put at ``stored`` just now), :class:`KeyTaken` is raised, recording nothing,
        when a multipart upload has reserved that key. With ``existing`` (a tus upload created before, whose one
        PATCH carried every byte), that upload is marked done instead, if it is still partial at offset 0 (else
        None: another PATCH came first).
        """
        now = time.time()
        try:
            with self._tx() as db:
                if free_key and db.execute("SELECT 1 AS x FROM assemblies WHERE key = ?", (stored,)).fetchone():
                    raise KeyTaken(stored)
                if existing is not None:
                    self._done_from_partial(db, upload_id, size, sha256, token, stored, now)
                elif (
                    db.execute(
                        "INSERT INTO uploads (id, name, size, chunk_size, chunk_count, state, sha256, token,"
                        " created, updated, finished, stored) VALUES (?, ?, ?, ?, 1, 'done', ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (id) DO NOTHING",
                        (upload_id, name, size, chunk_size, sha256, token, now, now, now, stored),
                    ).rowcount
                    != 1
                ):
                    return None
                if intent is not None:
                    self.published(intent, db)
                db.execute(
                    "INSERT INTO chunks (upload_id, idx, size, sha256) VALUES (?, 0, ?, ?)", (upload_id, size, sha256)
                )
                if tus_metadata is not None and existing is None:
                    db.execute(
                        'INSERT INTO tus (upload_id, "offset", metadata) VALUES (?, ?, ?)',
                        (upload_id, size, tus_metadata),
                    )
                if new_blob:
                    db.execute(
                        "INSERT INTO blobs (sha256, path, size, created) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, size = excluded.size,"
                        " created = excluded.created",
                        (sha256, stored, size, now),
                    )

        except _Unchanged:
            return None
        created = existing.created if existing is not None else now
        return Upload(upload_id, name, size, chunk_size, 1, "done", sha256, token, None, created, now, now, stored)

    @staticmethod
    def _done_from_partial(db: Db, upload_id: str, size: int, sha256: str, token: str, stored: str, now: float) -> None:
        """Inside :meth:`add_done`: a partial tus upload at offset 0 becomes done; :class:`_Unchanged` when it is
        no longer partial at offset 0."""
        moved = db.execute(
            'UPDATE tus SET "offset" = ? WHERE upload_id = ? AND "offset" = 0', (size, upload_id)
        ).rowcount
        if moved != 1:
            raise _Unchanged(upload_id)
        done = db.execute(
            "UPDATE uploads SET state = 'done', sha256 = ?, token = ?, stored = ?, error = NULL, finished = ?,"
            " updated = ? WHERE id = ? AND state = 'partial' AND size = ?",
            (sha256, token, stored, now, now, upload_id, size),
        ).rowcount
        if done != 1:
            raise _Unchanged(upload_id)  # rolls the offset back too

    def delete(self, upload_id: str) -> None:
        """Forget an upload and its chunks."""
        with self._tx() as db:
            db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    def delete_if_unchanged(self, upload: Upload, gone: str | None = None) -> bool:
        """Forget ``upload`` only if its row is still as read (same state, not touched since); True if so.

        Sweepers on several nodes that saw the same stale upload race here; exactly one wins. With ``gone``,
        a tombstone with that reason stays (see :mod:`codecalamity.drop.ledger.gone`).
        """
        with self._tx() as db:
            deleted = (
                db.execute(
                    "DELETE FROM uploads WHERE id = ? AND state = ? AND updated = ?",
                    (upload.id, upload.state, upload.updated),
                ).rowcount
                == 1
            )
            if deleted and gone is not None:
                self.bury(upload.id, gone, db)
            return deleted

    def stale(self, state: str, before: float, column: str = "updated") -> list[Upload]:
        """Uploads in ``state`` whose ``column`` (``updated`` or ``finished``) is older than ``before``."""
        if column not in ("updated", "finished"):
            raise ValueError(column)
        with self._read() as db:
            rows = db.execute(f"SELECT * FROM uploads WHERE state = ? AND {column} < ?", (state, before)).fetchall()
        return [upload_row(row) for row in rows]

    # chunks ----------------------------------------------------------------------------------------------

    def chunk_sha(self, upload_id: str, idx: int) -> str | None:
        """The sha256 of a received chunk, or None when it has not been received."""
        with self._read() as db:
            row = db.execute("SELECT sha256 FROM chunks WHERE upload_id = ? AND idx = ?", (upload_id, idx)).fetchone()
        return str(row["sha256"]) if row else None

    def add_chunk(self, upload_id: str, idx: int, size: int, sha256: str) -> int:
        """Record a received chunk (once); return how many distinct chunks the upload now has."""
        return self.record_chunk(upload_id, idx, size, sha256)[0]

    def record_chunk(
        self, upload_id: str, idx: int, size: int, sha256: str, pieces: Sequence[Piece] = ()
    ) -> tuple[int, bool]:
        """Record a received chunk with the pieces holding its bytes, unless it is recorded already.

        Returns how many distinct chunks the upload now has, and whether this call recorded the chunk (when
        not, another request did first, and ``pieces`` were not recorded: the caller removes them).
        """
        with self._tx() as db:
            added = (
                db.execute(
                    "INSERT INTO chunks (upload_id, idx, size, sha256) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (upload_id, idx) DO NOTHING",
                    (upload_id, idx, size, sha256),
                ).rowcount
                == 1
            )
            if added:
                insert_pieces(db, upload_id, pieces)
            db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))
            row = db.execute("SELECT COUNT(*) AS n FROM chunks WHERE upload_id = ?", (upload_id,)).fetchone()
        return int(row["n"]), added

    def received(self, upload_id: str) -> list[int]:
        """The indexes of the chunks received so far, in order."""
        with self._read() as db:
            rows = db.execute("SELECT idx FROM chunks WHERE upload_id = ? ORDER BY idx", (upload_id,)).fetchall()
        return [int(row["idx"]) for row in rows]

    # pieces (object storage) -----------------------------------------------------------------------------

    def add_piece(self, upload_id: str, start: int, size: int, key: str) -> bool:
        """Record the stored object ``key`` as the upload's bytes from ``start``; False if another came first."""
        with self._tx() as db:
            return (
                db.execute(
                    "INSERT INTO pieces (upload_id, start, size, key) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (upload_id, start) DO NOTHING",
                    (upload_id, start, size, key),
                ).rowcount
                == 1
            )

    def pieces(self, upload_id: str) -> list[tuple[int, int, str]]:
        """``(start, size, key)`` of every recorded piece, by offset."""
        with self._read() as db:
            rows = db.execute(
                "SELECT start, size, key FROM pieces WHERE upload_id = ? ORDER BY start", (upload_id,)
            ).fetchall()
        return [(int(r["start"]), int(r["size"]), str(r["key"])) for r in rows]


class _Unchanged(Exception):
    """Rolls back a transaction that found its row no longer as expected."""
