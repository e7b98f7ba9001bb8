"""Where the bytes live: the storage interface that the inbox writes through.

Backends: :mod:`codecalamity.drop.storage.local` (the embedded default, a folder on the local disk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ChunkWriter(Protocol):
    """Writes one request's bytes into an upload at given offsets."""

    def write_at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of the upload."""

    def close(self) -> None:
        """Release the writer."""


class Storage(Protocol):
    """What the drop server needs from a place to keep files; an object store can implement it too."""

    preallocates: bool
    """True when :meth:`prepare` reserves the space, so later writes cannot run out of disk."""

    def prepare(self, upload_id: str, size: int) -> None:
        """Make room for an upload of ``size`` bytes (idempotent)."""

    def resize(self, upload_id: str, size: int) -> None:
        """Make the partial content exactly ``size`` bytes, reserved (a deferred length has become known)."""

    def writer(self, upload_id: str) -> ChunkWriter:
        """A writer into the upload's partial content."""

    def read_partial(self, upload_id: str, offset: int, size: int) -> bytes:
        """``size`` bytes of the upload's partial content from ``offset`` (fewer only at its end)."""

    def has_partial(self, upload_id: str) -> bool:
        """Whether partial content exists for the upload."""

    def digest(self, upload_id: str, size: int, known: str | None = None) -> str:
        """The sha256 of the complete partial content, after checking it is ``size`` bytes, flushed to disk.

        ``known`` is a hash computed while the bytes arrived in order; then the content is not read again.
        """

    def concatenate(self, upload_id: str, parts: list[tuple[str, int]]) -> None:
        """Make the partial content of ``upload_id`` the complete partial contents ``(id, size)`` in order, flushed
        to disk; the parts stay (idempotent: a second call after a crash starts again)."""

    def place(self, upload_id: str, name: str) -> str:
        """Publish the partial content under a new, unused name derived from ``name``; return its key."""

    def link(self, key: str, name: str) -> str:
        """Show the stored file ``key`` under a new, unused name derived from ``name`` too; return its key.

        The content takes its space once (a hard link on a local disk).
        """

    def exists(self, key: str, size: int) -> bool:
        """Whether the stored file ``key`` is still there with ``size`` bytes."""

    def path(self, key: str) -> Path:
        """A local path to read the stored file ``key`` from."""

    def discard_partial(self, upload_id: str) -> None:
        """Remove partial content (missing is fine)."""

    def idle_partials(self, before: float) -> list[str]:
        """The ids of partial contents last written before ``before`` (seconds since the epoch)."""

    def remove(self, key: str) -> None:
        """Remove a stored file (missing is fine)."""

    def free_bytes(self) -> int:
        """Free space where uploads are written, in bytes."""
