"""Where the bytes live: the storage interface that the inbox writes through.

Backends: :mod:`codecalamity.drop.storage.local` (the embedded default, a folder on the local disk) and
:mod:`codecalamity.drop.storage.s3` (S3-compatible object storage shared by the nodes of a cluster).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

# ``(start, size, where)``: bytes of an upload stored apart, as an object store keeps them (``where`` is the
# store's own reference: an object's key, or a part of the upload's multipart upload).
Piece = tuple[int, int, str]


class ChunkWriter(Protocol):
    """Writes one request's bytes into an upload at given offsets."""

    def write_at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of the upload."""

    def expect(self, end: int) -> None:
        """The request will carry bytes up to offset ``end`` (a hint: an object store then uploads as they come)."""

    async def drain(self) -> None:
        """Wait while too much written data is still on its way to storage (back-pressure)."""

    async def checkpoint(self) -> tuple[int, list[Piece]] | None:
        """What is stored already, without storing anything more: ``(end, pieces)``, everything written from
        the first write up to ``end`` being stored (the pieces since the last call), or None when nothing new is.

        A long request commits its progress at checkpoints, so a killed node loses little of it.
        """

    async def flush(self) -> list[Piece]:
        """Store everything written so far; return the pieces stored since the last flush.

        Storage that writes in place returns ``[]``; an object store returns its staging objects, which the
        caller records in the ledger (or, when it loses a race, discards).
        """

    def close(self) -> None:
        """Release the writer; pieces that :meth:`flush` did not hand out are removed."""


class Storage(Protocol):
    """What the drop server needs from a place to keep files; an object store can implement it too."""

    preallocates: bool
    """True when :meth:`prepare` reserves the space, so later writes cannot run out of disk."""
    writes_in_place: bool
    """True when a writer's bytes are in the partial content as written (no pieces to record): an upload that
    arrives whole can then be published straight from its partial content, recorded in one ledger transaction."""
    commit_every: int
    """Bytes between progress commits of a long tus PATCH (what a killed node can lose of one request)."""
    links_cheaply: bool
    """True when :meth:`link` costs no copy of the content (a hard link); otherwise a duplicate upload is
    published from its own bytes, which are stored already, rather than copied from the earlier one."""

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

    def concatenate(self, upload_id: str, parts: list[tuple[str, int]]) -> list[Piece]:
        """Make the partial content of ``upload_id`` the complete partial contents ``(id, size)`` in order, flushed
        to disk; the parts stay (idempotent: a second call after a crash starts again).

        Returns the pieces that hold the joined content, which the caller records for ``upload_id`` (an object
        store joins by reference; a local disk copies and returns ``[]``). Discarding a part afterwards leaves
        what a recorded piece of another upload refers to.
        """

    def place(self, upload_id: str, name: str) -> str:
        """Publish the partial content under a new, unused name derived from ``name``; return its key."""

    def copies(self, name: str, size: int, sha256: str, source: str, partial: bool) -> list[str]:
        """Stored files shown as ``name`` (or ``name (n)``) that are ``source``'s content: what a publisher
        that died before recording them left visible. ``source`` is a partial id when ``partial``, else the
        stored key the new name was linked to; ``size`` and ``sha256`` are the content's."""

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

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """The stored file's bytes from ``start`` up to ``stop``, in blocks."""

    def discard_pieces(self, pieces: list[Piece]) -> None:
        """Remove pieces that were stored but lost a race to be recorded."""

    def abandon(self, before: float) -> int:
        """Remove leftovers of work that a dead process started before ``before``; return how many."""

    def close(self) -> None:
        """Release what the storage holds open."""


@runtime_checkable
class WholePuts(Protocol):
    """A storage that stores a small upload held whole in memory in one request (an object store's PutObject),
    instead of through a partial content."""

    whole_max: int
    """The largest upload stored this way."""

    def put_whole(self, name: str, body: bytes, skip: set[str]) -> str:
        """Store ``body`` under a new, unused name derived from ``name`` and not in ``skip``; return its key."""
