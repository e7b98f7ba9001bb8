"""The ledger: every upload, every received chunk, and every stored file by sha256.

Backends: :mod:`codecalamity.drop.ledger.sqlite` (the embedded default) and
:mod:`codecalamity.drop.ledger.postgres` (shared by the nodes of a cluster); the queries of both are in
:mod:`codecalamity.drop.ledger.sql`, the schema in :mod:`codecalamity.drop.ledger.migrations`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from codecalamity._errors import UsageError

if TYPE_CHECKING:
    from codecalamity.drop.ledger.sql import SqlLedger


@dataclasses.dataclass(frozen=True)
class Upload:
    """One upload as the ledger knows it."""

    id: str
    name: str
    size: int
    chunk_size: int
    chunk_count: int
    state: str
    sha256: str | None
    token: str | None
    error: str | None
    created: float
    updated: float
    finished: float | None
    stored: str | None = None
    """The storage key this upload is visible under once done (its own name; the content may be shared)."""


def open_ledger(spec: str | None, default: Path) -> SqlLedger:
    """The ledger that ``--ledger`` names: a ``postgresql://`` URL, a SQLite file path, or ``default``.

    Raises
    ------
    UsageError
        ``spec`` is a URL of another database.
    """
    if spec is not None and spec.startswith(("postgresql://", "postgres://")):
        from codecalamity.drop.ledger.postgres import PostgresLedger

        return PostgresLedger(spec)
    if spec is not None and "://" in spec:
        raise UsageError(f"--ledger must be a postgresql:// URL or a SQLite file, got {spec.split('://')[0]}://")
    from codecalamity.drop.ledger.sqlite import SqliteLedger

    return SqliteLedger(Path(spec) if spec else default)
