"""Ledger queries of stored contents (``blobs``: one stored file per sha256, the deduplication record) and of the
keys finished uploads are shown under (mixed into :class:`~codecalamity.drop.ledger.sql.SqlLedger`)."""

from __future__ import annotations

import time

from codecalamity.drop.ledger.db import Queries
from codecalamity.drop.ledger.migrations import Dialect


class BlobQueries(Queries):
    """The queries on ``blobs``, and on finished uploads by content."""

    dialect: Dialect

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
