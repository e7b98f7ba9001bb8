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
from typing import TYPE_CHECKING, Any

from codecalamity.drop.ledger import Upload
from codecalamity.drop.ledger.assemblies import AssemblyQueries
from codecalamity.drop.ledger.db import Db
from codecalamity.drop.ledger.gone import GoneQueries
from codecalamity.drop.ledger.migrations import MIGRATIONS, VERSIONS_TABLE, Dialect
from codecalamity.drop.ledger.publishing import PublishingQueries

if TYPE_CHECKING:
    from codecalamity.drop.storage import Piece


class SqlLedger(AssemblyQueries, PublishingQueries, GoneQueries):
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
        return _upload(row) if row else None

    def by_token(self, token: str) -> Upload | None:
        """The finished upload that this download token was issued for, or None."""
        with self._read() as db:
            row = db.execute("SELECT * FROM uploads WHERE token = ? AND state = 'done'", (token,)).fetchone()
        return _upload(row) if row else None

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
        return _upload(row)

    def in_state(self, state: str) -> list[Upload]:
        """Every upload in ``state``."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM uploads WHERE state = ?", (state,)).fetchall()
        return [_upload(row) for row in rows]

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
    ) -> Upload | None:
        """Record, in one transaction, an upload that arrived whole and is stored as ``stored``: the upload (done),
        its one chunk, its tus offset (with ``tus_metadata``) and, with ``new_blob``, the stored content.
        None, recording nothing, when an upload with this id exists already. ``intent`` is the publication
        (see :meth:`intend`) that this record completes."""
        now = time.time()
        with self._tx() as db:
            inserted = db.execute(
                "INSERT INTO uploads (id, name, size, chunk_size, chunk_count, state, sha256, token,"
                " created, updated, finished, stored) VALUES (?, ?, ?, ?, 1, 'done', ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (upload_id, name, size, chunk_size, sha256, token, now, now, now, stored),
            ).rowcount
            if inserted != 1:
                return None
            if intent is not None:
                self.published(intent, db)
            db.execute(
                "INSERT INTO chunks (upload_id, idx, size, sha256) VALUES (?, 0, ?, ?)", (upload_id, size, sha256)
            )
            if tus_metadata is not None:
                db.execute(
                    'INSERT INTO tus (upload_id, "offset", metadata) VALUES (?, ?, ?)', (upload_id, size, tus_metadata)
                )
            if new_blob:
                db.execute(
                    "INSERT INTO blobs (sha256, path, size, created) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, size = excluded.size,"
                    " created = excluded.created",
                    (sha256, stored, size, now),
                )
        return Upload(upload_id, name, size, chunk_size, 1, "done", sha256, token, None, now, now, now, stored)

    def stored_as(self, sha256: str, name: str) -> str | None:
        """The key of a finished upload with this content under this name, or None."""
        with self._read() as db:
            row = db.execute(
                "SELECT stored FROM uploads WHERE sha256 = ? AND name = ? AND state = 'done' AND stored IS NOT NULL"
                " LIMIT 1",
                (sha256, name),
            ).fetchone()
        return str(row["stored"]) if row else None

    def release_stored(self, sha256: str, key: str) -> bool:
        """After an upload stored as ``key`` was deleted: True when no finished upload shows ``key`` any more.

        The content's record then moves to another upload's key that shares it, or goes when none does.
        """
        with self._tx() as db:
            db.execute("SELECT sha256 FROM blobs WHERE sha256 = ?" + self.dialect.lock_for_update, (sha256,)).fetchone()
            users = db.execute(
                "SELECT COUNT(*) AS n FROM uploads WHERE stored = ? AND state = 'done'", (key,)
            ).fetchone()
            older = db.execute(  # finished before uploads had their own key: they show the content's key
                "SELECT COUNT(*) AS n FROM uploads u JOIN blobs b ON b.sha256 = u.sha256"
                " WHERE u.sha256 = ? AND u.stored IS NULL AND u.state = 'done' AND b.path = ?",
                (sha256, key),
            ).fetchone()
            if users["n"] or older["n"]:
                return False
            other = db.execute(
                "SELECT stored FROM uploads WHERE sha256 = ? AND state = 'done' AND stored IS NOT NULL LIMIT 1",
                (sha256,),
            ).fetchone()
            if other is None:
                db.execute("DELETE FROM blobs WHERE sha256 = ? AND path = ?", (sha256, key))
            else:
                db.execute("UPDATE blobs SET path = ? WHERE sha256 = ? AND path = ?", (other["stored"], sha256, key))
        return True

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
        return [_upload(row) for row in rows]

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
                self._insert_pieces(db, upload_id, pieces)
            db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))
            row = db.execute("SELECT COUNT(*) AS n FROM chunks WHERE upload_id = ?", (upload_id,)).fetchone()
        return int(row["n"]), added

    @staticmethod
    def _insert_pieces(db: Db, upload_id: str, pieces: Sequence[Piece]) -> None:
        for start, size, key in pieces:
            db.execute(
                "INSERT INTO pieces (upload_id, start, size, key) VALUES (?, ?, ?, ?)", (upload_id, start, size, key)
            )

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
            db.execute('INSERT INTO tus (upload_id, "offset", metadata) VALUES (?, 0, ?)', (upload_id, metadata))
            if concat is not None or deferred:
                db.execute(
                    "INSERT INTO tus_ext (upload_id, concat, deferred) VALUES (?, ?, ?)",
                    (upload_id, concat, int(deferred)),
                )
        return upload

    def tus_get(self, upload_id: str) -> tuple[Upload, int, str] | None:
        """A tus upload with its committed offset and its raw Upload-Metadata, or None."""
        with self._read() as db:
            row = db.execute(
                'SELECT u.*, t."offset" AS tus_offset, t.metadata AS tus_metadata FROM uploads u'
                " JOIN tus t ON t.upload_id = u.id WHERE u.id = ?",
                (upload_id,),
            ).fetchone()
        if row is None:
            return None
        fields = {k: row[k] for k in row.keys() if not k.startswith("tus_")}
        return _upload(fields), int(row["tus_offset"]), str(row["tus_metadata"])

    def tus_advance(
        self, upload_id: str, offset: int, *, expect: int | None = None, pieces: Sequence[Piece] = ()
    ) -> bool:
        """Commit the bytes received up to ``offset`` (only from offset ``expect`` when given); True if done.

        ``pieces`` (an object store's staging objects for those bytes) are recorded in the same transaction.
        """
        sql = 'UPDATE tus SET "offset" = ? WHERE upload_id = ?'
        args: tuple[object, ...] = (offset, upload_id)
        if expect is not None:
            sql += ' AND "offset" = ?'
            args += (expect,)
        with self._tx() as db:
            if db.execute(sql, args).rowcount != 1:
                return False
            self._insert_pieces(db, upload_id, pieces)
            db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))
        return True

    # tus extensions: concatenation and creation-defer-length ------------------------------------------------

    def tus_extras(self, upload_id: str) -> tuple[str | None, bool]:
        """A tus upload's concatenation role (None, ``partial`` or ``final;<ids>``) and whether its length is
        still deferred."""
        with self._read() as db:
            row = db.execute("SELECT concat, deferred FROM tus_ext WHERE upload_id = ?", (upload_id,)).fetchone()
        return (None, False) if row is None else (row["concat"], bool(row["deferred"]))

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
                        ' AND size = (SELECT "offset" FROM tus WHERE upload_id = ?) AND EXISTS (SELECT 1 FROM tus_ext'
                        " WHERE upload_id = ? AND concat = 'partial' AND deferred = 0)",
                        (time.time(), part_id, part_id, part_id),
                    ).rowcount
                    if changed != 1:
                        raise _Refused(part_id)
        except _Refused:
            return False
        return True

    def tus_join(
        self,
        final_id: str,
        name: str,
        size: int,
        metadata: str,
        concat: str,
        part_ids: list[str],
        pieces: Sequence[Piece] = (),
    ) -> None:
        """Record a final upload whose bytes are all there (joined from ``part_ids``, held in ``pieces`` in an
        object store), and forget the parts."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads (id, name, size, chunk_size, chunk_count, state, created, updated)"
                " VALUES (?, ?, ?, ?, 1, 'partial', ?, ?)",
                (final_id, name, size, max(size, 1), now, now),
            )
            db.execute('INSERT INTO tus (upload_id, "offset", metadata) VALUES (?, ?, ?)', (final_id, size, metadata))
            db.execute("INSERT INTO tus_ext (upload_id, concat, deferred) VALUES (?, ?, 0)", (final_id, concat))
            db.execute("INSERT INTO chunks (upload_id, idx, size, sha256) VALUES (?, 0, ?, '')", (final_id, size))
            self._insert_pieces(db, final_id, pieces)
            for part_id in part_ids:
                db.execute("DELETE FROM uploads WHERE id = ?", (part_id,))

    # blobs -----------------------------------------------------------------------------------------------

    def blob(self, sha256: str) -> tuple[str, int] | None:
        """``(path, size)`` of the stored file with this content, or None."""
        with self._read() as db:
            row = db.execute("SELECT path, size FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return (str(row["path"]), int(row["size"])) if row else None

    def add_blob(self, sha256: str, path: str, size: int, *, replace: str | None = None) -> str:
        """Record a stored file for ``sha256`` unless another is recorded; return the path that is recorded.

        ``replace`` names a recorded path known to be gone: that record is replaced. When two processes
        store the same content at once, the first record wins and the other removes its copy.
        """
        with self._tx() as db:
            db.execute(
                "INSERT INTO blobs (sha256, path, size, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, size = excluded.size,"
                " created = excluded.created WHERE blobs.path = ?",
                (sha256, path, size, time.time(), replace if replace is not None else path),
            )
            row = db.execute("SELECT path FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return str(row["path"])

    def drop_blob_if_unused(self, sha256: str) -> str | None:
        """Forget a stored file that no finished upload refers to; return its path then, else None."""
        with self._tx() as db:
            row = db.execute(
                "SELECT path FROM blobs WHERE sha256 = ?" + self.dialect.lock_for_update, (sha256,)
            ).fetchone()
            users = db.execute(
                "SELECT COUNT(*) AS n FROM uploads WHERE sha256 = ? AND state = 'done'", (sha256,)
            ).fetchone()
            if row is None or users["n"]:
                return None
            db.execute("DELETE FROM blobs WHERE sha256 = ?", (sha256,))
        return str(row["path"])


class _Refused(Exception):
    """Rolls a transaction back when one of its conditions does not hold."""


def _upload(row: Any) -> Upload:
    return Upload(**{k: row[k] for k in row.keys()})
