"""Dropzone's chunk fields, checked, and the sinks that stream one request's file bytes into storage."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from codecalamity.drop.config import MAX_CHUNK_BYTES
from codecalamity.drop.errors import BadRequest, Conflict, DropError, NoSpace, TooLarge

if TYPE_CHECKING:
    from codecalamity.drop.storage import ChunkWriter, Piece

_INT = re.compile(r"\d{1,19}")
# A whole upload up to HELD_EACH bytes is held in memory until its request ends (no file work on the event
# loop); at most HELD_TOTAL bytes by all requests together, past which uploads go to disk as they come.
HELD_EACH = 2 * 1024 * 1024
HELD_TOTAL = 16 * 1024 * 1024
FIELDS = ("dzchunkindex", "dztotalchunkcount", "dzchunkbyteoffset", "dztotalfilesize", "dzchunksize")


@dataclasses.dataclass(frozen=True)
class ChunkInfo:
    """One chunk as announced by Dropzone's form fields, already checked for consistency."""

    upload_id: str
    index: int
    count: int
    offset: int
    total: int
    chunk_size: int

    @property
    def expected(self) -> int:
        """How many bytes this chunk must carry."""
        return min(self.chunk_size, self.total - self.offset)


def parse_upload_id(value: str) -> str:
    """Return the canonical form of a UUID upload id, or raise :class:`BadRequest`.

    The id names files on disk, so anything but a plain UUID (paths, huge strings) is refused.
    """
    if len(value) > 36:
        raise BadRequest("upload id is not a UUID")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise BadRequest("upload id is not a UUID") from None
    if str(parsed) != value.lower():
        raise BadRequest("upload id is not a UUID")
    return str(parsed)


def parse_chunk(fields: Mapping[str, str], max_size: int) -> ChunkInfo:
    """Check Dropzone's chunk fields against each other and the size limit.

    Raises
    ------
    BadRequest
        A field is missing, not a non-negative integer, or inconsistent with the others.
    TooLarge
        The announced total is over ``max_size``.
    """
    upload_id = parse_upload_id(fields.get("dzuuid", ""))
    values: dict[str, int] = {}
    for name in FIELDS:
        raw = fields.get(name)
        if raw is None:
            raise BadRequest(f"missing field {name}")
        if not _INT.fullmatch(raw.strip()):
            raise BadRequest(f"field {name} must be a non-negative integer, got {raw[:40]!r}")
        values[name] = int(raw)
    total, chunk_size = values["dztotalfilesize"], values["dzchunksize"]
    index, count, offset = values["dzchunkindex"], values["dztotalchunkcount"], values["dzchunkbyteoffset"]
    if total > max_size:
        raise TooLarge(f"file is {total} bytes, the limit is {max_size}")
    if not 1 <= chunk_size <= MAX_CHUNK_BYTES:
        raise BadRequest(f"dzchunksize must be 1-{MAX_CHUNK_BYTES}")
    if count != max(1, -(-total // chunk_size)):
        raise BadRequest(f"dztotalchunkcount {count} does not match {total} bytes in chunks of {chunk_size}")
    if index >= count:
        raise BadRequest(f"chunk index {index} is out of range (0-{count - 1})")
    if offset != index * chunk_size:
        raise BadRequest(f"dzchunkbyteoffset {offset} is not chunk {index} x {chunk_size}")
    return ChunkInfo(upload_id, index, count, offset, total, chunk_size)


class Sink(Protocol):
    """Takes the bytes of one request's file part."""

    def write(self, data: bytes) -> None:
        """Take the next piece of the file part."""

    def abort(self) -> None:
        """The request failed: release everything, record nothing."""


class Owners:
    """Which request currently owns each chunk of each upload; a retry takes over from a stalled request."""

    def __init__(self) -> None:
        self._owner: dict[tuple[str, int], object] = {}

    def take(self, key: tuple[str, int], sink: object) -> None:
        """Make ``sink`` the owner of ``key``; an older owner stops at its next write."""
        self._owner[key] = sink

    def owns(self, key: tuple[str, int], sink: object) -> bool:
        """Whether ``sink`` still owns ``key``."""
        return self._owner.get(key) is sink

    def busy(self, upload_id: str) -> bool:
        """Whether any request is streaming a chunk of this upload."""
        return any(key[0] == upload_id for key in self._owner)

    def release(self, key: tuple[str, int], sink: object) -> None:
        """Give ``key`` up, if ``sink`` still owns it."""
        if self._owner.get(key) is sink:
            del self._owner[key]


class ChunkSink:
    """Streams one chunk into the upload at its offset, hashing as it goes.

    Writes happen on the event loop with no await between the ownership check and the write, so a
    superseded request can never write after its replacement has started.
    """

    def __init__(self, info: ChunkInfo, writer: ChunkWriter, owners: Owners) -> None:
        self.info = info
        self.key = (info.upload_id, info.index)
        self.sha = hashlib.sha256()
        self.written = 0
        self._writer = writer
        writer.expect(info.offset + info.expected)
        self._owners = owners
        owners.take(self.key, self)

    def write(self, data: bytes) -> None:
        if not self._owners.owns(self.key, self):
            raise Conflict(f"chunk {self.info.index} is being sent again by a newer request")
        if self.written + len(data) > self.info.expected:
            raise TooLarge(f"chunk {self.info.index} is larger than the {self.info.expected} bytes announced")
        try:
            self._writer.write_at(self.info.offset + self.written, data)
        except OSError as err:
            raise disk_error(err) from err
        self.sha.update(data)
        self.written += len(data)

    async def drain(self) -> None:
        """Wait while the storage is behind (an object store uploads in the background)."""
        await self._writer.drain()

    async def flush(self) -> list[Piece]:
        """Store what was written; the pieces an object store made of it (see :class:`ChunkWriter`)."""
        return await self._writer.flush()

    def complete(self) -> str:
        """Check the chunk is whole; return its sha256. Releases the chunk either way."""
        try:
            if self.written != self.info.expected:
                raise BadRequest(
                    f"chunk {self.info.index} has {self.written} bytes, {self.info.expected} were announced"
                )
            if not self._owners.owns(self.key, self):
                raise Conflict(f"chunk {self.info.index} is being sent again by a newer request")
            return self.sha.hexdigest()
        finally:
            self.abort()

    def abort(self) -> None:
        self._owners.release(self.key, self)
        self._writer.close()


class CompareSink:
    """A chunk the server already holds: hash the bytes again and check they are the same."""

    def __init__(self, info: ChunkInfo, recorded_sha: str) -> None:
        self.info = info
        self.recorded = recorded_sha
        self.sha = hashlib.sha256()
        self.written = 0

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.info.expected:
            raise TooLarge(f"chunk {self.info.index} is larger than the {self.info.expected} bytes announced")
        self.sha.update(data)
        self.written += len(data)

    async def drain(self) -> None:
        """Nothing is stored, so nothing to wait for."""

    def complete(self) -> None:
        """Raise unless the bytes match the chunk received before."""
        if self.written != self.info.expected:
            raise BadRequest(f"chunk {self.info.index} has {self.written} bytes, {self.info.expected} were announced")
        if self.sha.hexdigest() != self.recorded:
            raise Conflict(f"chunk {self.info.index} was already received with different content")

    def abort(self) -> None:
        pass


class HeldBytes:
    """Bytes of whole uploads held in memory until their request ends, all requests together, up to a limit."""

    def __init__(self, limit: int = HELD_TOTAL, each: int = HELD_EACH) -> None:
        self.limit = limit
        self.each = each
        """The largest upload held (an object store holds more: it stores a small upload in one request)."""
        self.used = 0

    def take(self, n: int) -> bool:
        """Reserve ``n`` bytes; False (nothing reserved) when that would pass the limit."""
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        """Return ``n`` reserved bytes."""
        self.used -= n


class WholeSink:
    """An upload that arrives whole in one request (a plain upload, a tus creation with all its bytes, the only
    chunk of a Dropzone upload), hashed as it comes.

    A small one stays in memory (within ``held``) until the request ends, and is written, flushed and published
    in one go off the event loop (:meth:`flush`); a larger one goes to its partial file as it arrives.
    ``partial_id`` names the partial file (a fresh id: requests never share one); ``chunk`` is set for the only
    chunk of a Dropzone upload, whose size it fixes.
    """

    def __init__(
        self,
        upload_id: str,
        name: str,
        open_writer: Callable[[], ChunkWriter],
        max_size: int,
        *,
        partial_id: str | None = None,
        chunk: ChunkInfo | None = None,
        held: HeldBytes | None = None,
    ) -> None:
        self.upload_id = upload_id
        self.partial_id = partial_id or upload_id
        self.name = name
        self.chunk = chunk
        self.sha = hashlib.sha256()
        self.written = 0
        self.pieces: list[bytes] | None = [] if held is not None else None
        """The bytes so far while they are held in memory; None once they go to the partial file."""
        self._held = held
        self._open_writer = open_writer
        self._writer: ChunkWriter | None = None
        self._max = chunk.expected if chunk is not None else max_size

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self._max:
            if self.chunk is not None:
                raise TooLarge(f"chunk 0 is larger than the {self._max} bytes announced")
            raise TooLarge(f"file is over the limit of {self._max} bytes")
        try:
            if self.pieces is not None and (
                self._held is None or self.written + len(data) > self._held.each or not self._held.take(len(data))
            ):
                self._spill()
            if self.pieces is not None:
                self.pieces.append(data)
            else:
                self._disk().write_at(self.written, data)
        except OSError as err:
            raise disk_error(err) from err
        self.sha.update(data)
        self.written += len(data)

    def _disk(self) -> ChunkWriter:
        if self._writer is None:
            self._writer = self._open_writer()
        return self._writer

    def _spill(self) -> None:
        pieces, self.pieces = self.pieces or [], None
        offset = 0
        for piece in pieces:
            self._disk().write_at(offset, piece)
            offset += len(piece)
        if self._held is not None:
            self._held.give(offset)

    @property
    def on_disk(self) -> bool:
        """Whether the partial file exists."""
        return self._writer is not None

    def flush(self) -> None:
        """Put every byte in the partial file and close it (in a worker thread: it blocks). Raises OSError."""
        writer = self._disk()
        offset = 0
        for piece in self.pieces or []:
            writer.write_at(offset, piece)
            offset += len(piece)
        writer.close()

    async def drain(self) -> None:
        """Wait while the storage is behind (only once the bytes go to storage as they come)."""
        if self._writer is not None:
            await self._writer.drain()

    async def flush_pieces(self) -> list[Piece]:
        """Put every byte in storage through the writer; the pieces an object store made of it."""
        writer = self._disk()
        offset = 0
        for piece in self.pieces or []:
            writer.write_at(offset, piece)
            offset += len(piece)
        if self.pieces:
            if self._held is not None:
                self._held.give(offset)
            self.pieces = []
        return await writer.flush()

    def abort(self) -> None:
        """Release the memory and the file handle (the caller removes the partial file)."""
        if self.pieces is not None and self._held is not None:
            self._held.give(sum(len(p) for p in self.pieces))
        self.pieces = None if self.pieces is None else []
        if self._writer is not None:
            self._writer.close()


def disk_error(err: OSError) -> DropError:
    """The client's view of a failed write: 507 when the disk is full, else 500."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace("the server's disk is full")
    return DropError(500, f"write failed: {err.strerror or err}")
