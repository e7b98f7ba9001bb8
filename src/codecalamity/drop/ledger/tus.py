"""Ledger queries of the tus protocol: offsets, metadata, concatenation and deferred lengths (mixed into
:class:`~codecalamity.drop.ledger.sql.SqlLedger`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from codecalamity.drop.ledger import Upload
from codecalamity.drop.ledger.db import Queries, insert_pieces, upload_row

if TYPE_CHECKING:
    from codecalamity.drop.storage import Piece


class TusQueries(Queries):
    """The queries on the ``tus`` and ``tus_ext`` tables."""

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
        return upload_row(fields), int(row["tus_offset"]), str(row["tus_metadata"])

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
            insert_pieces(db, upload_id, pieces)
            db.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))
        return True

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
            insert_pieces(db, final_id, pieces)
            for part_id in part_ids:
                db.execute("DELETE FROM uploads WHERE id = ?", (part_id,))


class _Refused(Exception):
    """Rolls a transaction back when one of its conditions does not hold."""
