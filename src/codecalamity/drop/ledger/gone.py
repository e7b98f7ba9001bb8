"""The ledger's tombstones: uploads that ended unfinished (expired, or their partial content lost).

A Dropzone sender that comes back after its upload expired still sends the remaining chunks under the same
id; without a tombstone they would start a new upload that can never be whole (its first chunks are gone).
With one, each late chunk is refused with 410 and the reason, which the page shows. Tombstones are kept for
one more ``--partial-ttl``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from codecalamity.drop.ledger.db import Queries

if TYPE_CHECKING:
    from codecalamity.drop.ledger.db import Db


class GoneQueries(Queries):
    """The queries on the ``gone`` table (mixed into :class:`~codecalamity.drop.ledger.sql.SqlLedger`)."""

    def bury(self, upload_id: str, reason: str, db: Db | None = None) -> None:
        """Remember that ``upload_id`` ended unfinished, and why (inside the caller's transaction ``db``)."""
        sql = "INSERT INTO gone (id, reason, since) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING"
        if db is not None:
            db.execute(sql, (upload_id, reason, time.time()))
            return
        with self._tx() as own:
            own.execute(sql, (upload_id, reason, time.time()))

    def gone(self, upload_id: str) -> str | None:
        """Why ``upload_id`` ended unfinished, or None when it did not."""
        with self._read() as db:
            row = db.execute("SELECT reason FROM gone WHERE id = ?", (upload_id,)).fetchone()
        return str(row["reason"]) if row else None

    def forget_gone(self, before: float) -> int:
        """Drop tombstones older than ``before``; return how many."""
        with self._tx() as db:
            return int(db.execute("DELETE FROM gone WHERE since < ?", (before,)).rowcount)
