"""The ledger: every upload, every received chunk, and every stored file by sha256.

Backends: :mod:`codecalamity.drop.ledger.sqlite` (the embedded default).
"""

from __future__ import annotations

import dataclasses


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
