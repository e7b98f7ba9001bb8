"""The ledger's record of names being published: written before a finished upload appears under its name,
removed in the transaction that records it done.

A server killed in between leaves a visible file that no upload row shows; the row left here says which, so
the next start removes it (the upload was never reported stored: its sender sends it again, or a chunked upload
is finished again from its partial content) instead of the re-sent file appearing as ``name (1)``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from codecalamity.drop.ledger.db import Queries

if TYPE_CHECKING:
    from codecalamity.drop.ledger.db import Db


@dataclasses.dataclass(frozen=True)
class Intent:
    """A publication under way, or cut short: the partial content ``id`` of ``upload_id`` appearing as ``name``."""

    id: str
    upload_id: str
    name: str
    size: int
    sha256: str
    shared: str | None
    """The stored key the new name links to (the content was stored already), or None: placed from ``id``."""
    started: float


class KeyTaken(Exception):
    """A multipart upload reserved the key a whole upload was put at (the transaction recording it rolls back)."""


class PublishingQueries(Queries):
    """The queries on the ``publishing`` table (mixed into :class:`~codecalamity.drop.ledger.sql.SqlLedger`)."""

    def intend(self, partial_id: str, upload_id: str, name: str, size: int, sha256: str, shared: str | None) -> None:
        """Record that ``partial_id``'s content is about to appear under ``name`` (before it does)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO publishing (id, upload_id, name, size, sha256, shared, started)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " shared = excluded.shared, started = excluded.started",
                (partial_id, upload_id, name, size, sha256, shared, time.time()),
            )

    def prepare_whole(
        self, partial_id: str, upload_id: str, name: str, size: int, sha256: str, keys: Sequence[str]
    ) -> tuple[str | None, set[str]]:
        """Before an upload held whole in memory is put in the store: record the intent (as :meth:`intend`), and
        say, in the same transaction, the key of a finished upload with this content under this name (or None)
        and which of ``keys`` multipart uploads reserve."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO publishing (id, upload_id, name, size, sha256, shared, started)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " shared = excluded.shared, started = excluded.started",
                (partial_id, upload_id, name, size, sha256, time.time()),
            )
            same = db.execute(
                "SELECT stored FROM uploads WHERE sha256 = ? AND name = ? AND state = 'done' AND stored IS NOT NULL"
                " LIMIT 1",
                (sha256, name),
            ).fetchone()
            marks = ", ".join("?" * len(keys))
            reserved = db.execute(f"SELECT key FROM assemblies WHERE key IN ({marks})", tuple(keys)).fetchall()
        return (str(same["stored"]) if same else None), {str(row["key"]) for row in reserved}

    def published(self, partial_id: str, db: Db | None = None) -> None:
        """Forget the intent (inside the caller's transaction ``db`` when given)."""
        if db is not None:
            db.execute("DELETE FROM publishing WHERE id = ?", (partial_id,))
            return
        with self._tx() as own:
            own.execute("DELETE FROM publishing WHERE id = ?", (partial_id,))

    def intents(self, before: float) -> list[Intent]:
        """Intents recorded before ``before`` (those of a live publisher are younger, or claimed)."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM publishing WHERE started < ?", (before,)).fetchall()
        return [
            Intent(r["id"], r["upload_id"], r["name"], int(r["size"]), r["sha256"], r["shared"], float(r["started"]))
            for r in rows
        ]

    def shows(self, key: str) -> bool:
        """Whether any finished upload is shown as ``key`` (a content's record alone, written just before the
        upload's, does not count)."""
        with self._read() as db:
            row = db.execute(
                "SELECT 1 AS x FROM uploads WHERE stored = ? AND state = 'done'"
                " UNION ALL SELECT 1 AS x FROM blobs b JOIN uploads u ON u.sha256 = b.sha256"  # before uploads.stored
                " WHERE b.path = ? AND u.stored IS NULL AND u.state = 'done' LIMIT 1",
                (key, key),
            ).fetchone()
        return row is not None
