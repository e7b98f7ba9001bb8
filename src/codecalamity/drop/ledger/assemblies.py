"""Ledger queries of the object store's multipart uploads (``assemblies``), shared by SQLite and PostgreSQL.

An assembly is the multipart upload that an upload's bytes go into as they arrive, at the key it will be
published under. Its row reserves the key (a UNIQUE column): no other upload, and no copy, is published there
while it is being assembled. The storage adds the row when it starts the multipart upload and removes it once
it has published or aborted it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from codecalamity.drop.ledger.db import Queries

if TYPE_CHECKING:
    pass


@dataclasses.dataclass(frozen=True)
class Assembly:
    """A multipart upload under way: the key it publishes, its id in the store, and its part size."""

    upload_id: str
    key: str
    mpu: str
    part_size: int
    created: float


class AssemblyQueries(Queries):
    """Mixed into :class:`~codecalamity.drop.ledger.sql.SqlLedger`."""

    def assembly(self, upload_id: str) -> Assembly | None:
        """The multipart upload of ``upload_id``, or None."""
        with self._read() as db:
            row = db.execute("SELECT * FROM assemblies WHERE upload_id = ?", (upload_id,)).fetchone()
        return _assembly(row) if row else None

    def add_assembly(self, upload_id: str, key: str, mpu: str, part_size: int) -> Assembly | None:
        """Record a new multipart upload; return the upload's assembly as recorded (another node's when it
        came first), or None when ``key`` is reserved by another upload (nothing recorded)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO assemblies (upload_id, key, mpu, part_size, created) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (upload_id, key, mpu, part_size, time.time()),
            )
            row = db.execute("SELECT * FROM assemblies WHERE upload_id = ?", (upload_id,)).fetchone()
        return _assembly(row) if row else None

    def key_reserved(self, key: str) -> bool:
        """Whether a multipart upload is being assembled at ``key``."""
        with self._read() as db:
            return db.execute("SELECT 1 FROM assemblies WHERE key = ?", (key,)).fetchone() is not None

    def drop_assembly(self, upload_id: str, mpu: str) -> None:
        """Forget the multipart upload ``mpu`` of ``upload_id`` (published or aborted)."""
        with self._tx() as db:
            db.execute("DELETE FROM assemblies WHERE upload_id = ? AND mpu = ?", (upload_id, mpu))

    def orphan_assemblies(self, before: float) -> list[Assembly]:
        """Assemblies started before ``before`` whose upload is gone (a node died before removing them)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT a.* FROM assemblies a LEFT JOIN uploads u ON u.id = a.upload_id"
                " WHERE u.id IS NULL AND a.created < ?",
                (before,),
            ).fetchall()
        return [_assembly(row) for row in rows]

    def assembly_ids(self) -> set[str]:
        """The store ids of every multipart upload recorded."""
        with self._read() as db:
            return {str(row["mpu"]) for row in db.execute("SELECT mpu FROM assemblies").fetchall()}

    def referenced_by_others(self, keys: list[str], upload_id: str) -> set[str]:
        """Which of the stored objects ``keys`` an upload other than ``upload_id`` has bytes in."""
        found: set[str] = set()
        with self._read() as db:
            for first in range(0, len(keys), 500):
                batch = keys[first : first + 500]
                marks = ", ".join("?" * len(batch))
                rows = db.execute(
                    f"SELECT DISTINCT key FROM pieces WHERE upload_id <> ? AND key IN ({marks})", (upload_id, *batch)
                ).fetchall()
                found.update(str(row["key"]) for row in rows)
        return found

    def referenced_elsewhere(self, key: str, upload_id: str) -> bool:
        """Whether an upload other than ``upload_id`` has bytes in the stored object ``key`` (a joined part)."""
        with self._read() as db:
            row = db.execute("SELECT 1 FROM pieces WHERE key = ? AND upload_id <> ?", (key, upload_id)).fetchone()
        return row is not None


def _assembly(row: Any) -> Assembly:
    return Assembly(
        str(row["upload_id"]), str(row["key"]), str(row["mpu"]), int(row["part_size"]), float(row["created"])
    )
