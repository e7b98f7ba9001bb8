"""The inbox: turns requests into chunks, chunks into finished files, and expires what is left behind."""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio.to_thread

from codecalamity.drop.chunks import (
    HELD_EACH,
    HELD_TOTAL,
    ChunkInfo,
    ChunkSink,
    CompareSink,
    HeldBytes,
    Owners,
    WholeSink,
    disk_error,
    parse_chunk,
)
from codecalamity.drop.config import DropConfig
from codecalamity.drop.errors import BadRequest, Conflict, DropError, NoSpace, Unavailable
from codecalamity.drop.housekeeping import Housekeeping
from codecalamity.drop.ledger import Upload
from codecalamity.drop.ledger.sql import SqlLedger
from codecalamity.drop.ledger.sqlite import SqliteLedger
from codecalamity.drop.names import display_name
from codecalamity.drop.publish import Publisher
from codecalamity.drop.storage import ChunkWriter, Piece, Storage, WholePuts

T = TypeVar("T")

logger = logging.getLogger(__name__)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
HELD_BLOCK = 1024 * 1024
UNAVAILABLE = "a shared service is unavailable"
# Seconds after which a publication recorded in a shared ledger (a cluster) and not finished is a dead node's.
PUBLISH_GRACE = 60.0


class Inbox(Publisher, Housekeeping):
    """Everything the drop server does with uploads, apart from HTTP.

    Parameters
    ----------
    config
        The validated settings (limits, expiry).
    storage
        Where the bytes go.
    ledger
        Where the bookkeeping goes.
    """

    def __init__(
        self,
        config: DropConfig,
        storage: Storage,
        ledger: SqlLedger,
        on_activity: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.ledger = ledger
        self.owners = Owners()
        self.puts = storage if isinstance(storage, WholePuts) else None
        """The storage, when it stores a small upload held whole in memory in one request (an object store)."""
        self.whole_max = self.puts.whole_max if self.puts is not None else 0
        self.held = HeldBytes(max(HELD_TOTAL, 4 * self.whole_max), max(HELD_EACH, self.whole_max))
        self.live: set[str] = set()
        """Partial contents this process is publishing now (see :meth:`unpublish_orphans`)."""
        self.active = 0
        """Requests now streaming file bytes; ``on_activity`` hears every change (keep-awake uses it)."""
        self.on_activity = on_activity
        self.offload = not (storage.writes_in_place and isinstance(ledger, SqliteLedger))
        """Whether :meth:`call` runs ledger and store calls in worker threads (they wait on the network)."""

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A quick ledger or store call from a request: in a worker thread where it waits on the network
        (PostgreSQL, an object store), so the event loop keeps receiving meanwhile; inline with SQLite and a local
        folder, where it takes well under a millisecond and a thread hop would cost more (a fifth of the server's
        CPU on a 1 GiB file in 1 MB chunks). Calls that flush to disk always go to a thread."""
        if self.offload:
            return await anyio.to_thread.run_sync(fn, *args)
        return fn(*args)

    def bump(self, delta: int) -> None:
        """One more (+1) or one fewer (-1) request streaming bytes."""
        self.active += delta
        if self.on_activity is not None:
            self.on_activity(self.active)

    # receiving -------------------------------------------------------------------------------------------

    def begin_chunk(self, fields: Mapping[str, str], filename: str) -> ChunkSink | CompareSink | WholeSink:
        """Check a chunk's fields and return the sink its bytes go to (it blocks on the ledger: the protocols
        call it in a worker thread)."""
        info = parse_chunk(fields, self.config.max_size)
        whole = self.storage.writes_in_place or info.total <= self.whole_max
        if info.count == 1 and whole and self.ledger.get(info.upload_id) is None:
            # the whole file in one chunk (every small file Dropzone sends): stored as it ends, one ledger write
            return self.begin_whole(filename, info.total, upload_id=info.upload_id, chunk=info)
        upload = self._upload_for(info, display_name(filename))
        recorded = self.ledger.chunk_sha(info.upload_id, info.index)
        if recorded is not None:
            return CompareSink(info, recorded)
        if upload.state != "partial":
            raise Conflict(f"upload is {upload.state}")
        if not self.storage.preallocates:
            self.check_space(info.expected)
        return ChunkSink(info, self.storage.writer(info.upload_id), self.owners)

    def _upload_for(self, info: ChunkInfo, name: str) -> Upload:
        upload = self.ledger.get(info.upload_id)
        if upload is not None and upload.state == "partial" and not self.storage.has_partial(upload.id):
            logger.warning("upload %s lost its partial file", upload.id)
            if self.ledger.delete_if_unchanged(upload, gone="its partial file on the server was lost"):
                self.storage.discard_partial(upload.id)
            upload = None
        if upload is None:
            reason = self.ledger.gone(info.upload_id)
            if reason is not None:  # a late chunk of an upload that ended unfinished: never start it again
                raise DropError(410, f"this upload ended unfinished ({reason}); send the whole file again")
            self.check_space(info.total)
            try:
                self.storage.prepare(info.upload_id, info.total)
            except OSError as err:
                raise disk_error(err) from err
            upload = self.ledger.create(info.upload_id, name, info.total, info.chunk_size, info.count)
        if (upload.size, upload.chunk_size, upload.chunk_count) != (info.total, info.chunk_size, info.count):
            raise Conflict("chunk does not belong to this upload (size or chunk size differ)")
        if upload.state == "failed":
            raise Conflict(f"upload failed: {upload.error}")
        return upload

    def begin_whole(
        self,
        filename: str,
        content_length: int | None,
        *,
        upload_id: str | None = None,
        chunk: ChunkInfo | None = None,
    ) -> WholeSink:
        """Start an upload that arrives whole in this request (under a new id unless ``upload_id`` is given)."""
        if content_length is not None:
            self.check_space(content_length)
        partial_id = str(uuid.uuid4())

        def open_writer() -> ChunkWriter:
            self.storage.prepare(partial_id, 0)
            return self.storage.writer(partial_id)

        return WholeSink(
            upload_id or partial_id,
            display_name(filename),
            open_writer,
            self.config.max_size,
            partial_id=partial_id,
            chunk=chunk,
            held=self.held,
        )

    async def chunk_from_held(
        self, held: WholeSink, fields: Mapping[str, str], filename: str
    ) -> ChunkSink | CompareSink | WholeSink:
        """A file part that came before its chunk fields: move its held bytes to where the fields say.

        The held partial file is removed whatever happens; on any error nothing of it is recorded.
        """
        try:
            sink = await self.call(self.begin_chunk, fields, filename)
            try:
                if held.on_disk:  # an object store ships pieces in the background: all of them there first
                    await held.flush_pieces()
                for piece in held.pieces or []:
                    sink.write(piece)
                offset = 0 if held.pieces is None else held.written
                while offset < held.written:
                    n = min(HELD_BLOCK, held.written - offset)
                    sink.write(self.storage.read_partial(held.partial_id, offset, n))
                    offset += n
                    await anyio.sleep(0)  # other requests go on between blocks, as between body pieces
            except BaseException:
                sink.abort()
                raise
            return sink
        finally:
            held.abort()
            if held.on_disk:
                self.storage.discard_partial(held.partial_id)

    def check_space(self, needed: int) -> None:
        """Raise :class:`NoSpace` unless ``needed`` more bytes leave the free-disk reserve untouched."""
        free = self.storage.free_bytes()
        if free - needed < self.config.reserve:
            raise NoSpace(f"not enough free disk space for {needed} more bytes")

    async def complete(self, sink: ChunkSink | CompareSink | WholeSink) -> dict[str, Any]:
        """The request's file part ended: record it, finish the upload when it is whole, say where it stands.

        The ledger and the store are called in worker threads: the event loop goes on receiving meanwhile.
        """
        if isinstance(sink, WholeSink):
            return await self.finish_whole(sink)
        upload_id = sink.info.upload_id
        if isinstance(sink, CompareSink):
            sink.complete()
            # a retry after a finish that failed (disk full) starts the finish again
            if len(await self.call(self.ledger.received, upload_id)) == sink.info.count:
                return await self.finish(upload_id)
            return await self.call(self.status, upload_id)
        pieces = await sink.flush()
        try:
            sha = sink.complete()
        except BaseException:
            await self.call(self.storage.discard_pieces, pieces)
            raise
        count = await self.call(self._record_chunk, sink.info, sink.written, sha, pieces)
        if count == sink.info.count:
            # an upload of one chunk: the chunk's sha256 is the file's (no need to read it again)
            return await self.finish(upload_id, sha if sink.info.count == 1 else None)
        return await self.call(self.status, upload_id)

    def _record_chunk(self, info: ChunkInfo, size: int, sha: str, pieces: list[Piece]) -> int:
        """Record a received chunk with its pieces; how many chunks the upload has now."""
        try:
            count, added = self.ledger.record_chunk(info.upload_id, info.index, size, sha, pieces)
        except BaseException:
            self.storage.discard_pieces(pieces)
            raise
        if not added:  # the same chunk, sent to two nodes at once, was recorded by the other one
            self.storage.discard_pieces(pieces)
        return count

    async def finish(self, upload_id: str, known_sha: str | None = None) -> dict[str, Any]:
        """Verify, store and publish a complete upload (once, whoever calls first); return its status."""
        return await anyio.to_thread.run_sync(lambda: self._status(self._finish_or_status(upload_id, known_sha)))

    def _finish_or_status(self, upload_id: str, known_sha: str | None) -> Upload:
        """The upload once finished here, or as it stands when another request is finishing it."""
        if self.ledger.set_state(upload_id, "finishing", expect="partial"):
            self._finish_sync(upload_id, known_sha)
            upload = self.ledger.get(upload_id)
            if upload is not None and upload.state == "partial":
                if upload.error and upload.error.startswith(UNAVAILABLE):
                    raise Unavailable(f"{upload.error}; send the last chunk again later")
                raise NoSpace("the server's disk is full; send the last chunk again later")
            if upload is not None and upload.state == "failed":
                raise DropError(500, f"upload failed: {upload.error}")
        else:
            upload = self.ledger.get(upload_id)
        if upload is None:
            raise DropError(404, "no such upload")
        return upload

    def _finish_sync(self, upload_id: str, known_sha: str | None = None) -> None:
        # one finisher per upload across every process sharing the ledger; the claim dies with its holder
        with self.ledger.claim(f"finish:{upload_id}") as mine:
            if mine:
                self._finish_claimed(upload_id, known_sha)

    def _finish_claimed(self, upload_id: str, known_sha: str | None = None) -> None:
        upload = self.ledger.get(upload_id)
        if upload is None or upload.state != "finishing":
            return
        try:
            sha = self.storage.digest(upload_id, upload.size, known_sha)
            self._store(upload, sha)
            self.storage.discard_partial(upload_id)
            logger.info("received %s (%d bytes, sha256 %s)", upload.name, upload.size, sha)
        except (sqlite3.OperationalError, Unavailable) as err:
            logger.error("finishing upload %s failed: %s", upload_id, err)
            with contextlib.suppress(sqlite3.OperationalError, Unavailable):
                self.ledger.set_state(upload_id, "partial", error=f"{UNAVAILABLE}: {err}")
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                self.ledger.set_state(upload_id, "partial")
                return
            logger.error("finishing upload %s failed: %s", upload_id, err)
            self.ledger.set_state(upload_id, "failed", error=str(err.strerror or err))

    async def finish_whole(
        self, sink: WholeSink, tus_metadata: str | None = None, existing: Upload | None = None
    ) -> dict[str, Any]:
        """Store an upload that arrived whole in one request, with its tus offset when ``tus_metadata`` is given;
        return its status.

        Published from its partial content (a local disk) or put in one request from memory (an object store),
        then recorded as done in one ledger transaction; in an object store, an upload too large to be held is
        recorded with the pieces it was stored in and finished as any upload. ``existing``: the tus upload,
        created before, whose one PATCH carried every byte (held in memory: the caller made sure).
        """
        sha = sink.sha.hexdigest()
        try:
            if sink.chunk is not None and sink.written != sink.chunk.expected:
                raise BadRequest(f"chunk 0 has {sink.written} bytes, {sink.chunk.expected} were announced")
            if self.storage.writes_in_place:
                upload = await anyio.to_thread.run_sync(self._finish_whole_sync, sink, sha, tus_metadata)
            elif self.puts is not None and sink.pieces is not None:
                upload = await anyio.to_thread.run_sync(
                    self._put_whole_sync, self.puts, sink, sha, tus_metadata, existing
                )
            else:
                pieces = await sink.flush_pieces()
                return await self._finish_pieces(sink, sha, pieces, tus_metadata)
        finally:
            sink.abort()
        return self._status(upload)

    async def _finish_pieces(
        self, sink: WholeSink, sha: str, pieces: list[Piece], tus_metadata: str | None
    ) -> dict[str, Any]:
        """An upload that arrived whole, stored in ``pieces``: recorded with its one chunk, then finished."""
        chunk_size = sink.chunk.chunk_size if sink.chunk is not None else max(sink.written, 1)
        try:
            if tus_metadata is None:
                self.ledger.create(sink.upload_id, sink.name, sink.written, chunk_size, 1)
            else:
                self.ledger.tus_create(sink.upload_id, sink.name, sink.written, tus_metadata)
                self.ledger.tus_advance(sink.upload_id, sink.written, expect=0)
            _, added = self.ledger.record_chunk(sink.upload_id, 0, sink.written, sha, pieces)
        except BaseException:
            self.storage.discard_pieces(pieces)
            raise
        if not added:  # the same only chunk, sent to two nodes at once, was recorded by the other one
            self.storage.discard_pieces(pieces)
            if self.ledger.chunk_sha(sink.upload_id, 0) != sha:
                raise Conflict("chunk 0 was already received with different content")
        return await self.finish(sink.upload_id, sha)

    # reading ---------------------------------------------------------------------------------------------

    def status(self, upload_id: str) -> dict[str, Any]:
        """Where an upload stands: the chunks received, and when done its sha256 and download token."""
        upload = self.ledger.get(upload_id)
        if upload is None:
            raise DropError(404, "no such upload")
        return self._status(upload)

    def _status(self, upload: Upload) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": upload.id,
            "name": upload.name,
            "size": upload.size,
            "state": upload.state,
            "chunk_count": upload.chunk_count,
        }
        if upload.state == "done":
            out["sha256"] = upload.sha256
            out["token"] = upload.token
            if self.config.allow_downloads:
                out["download"] = f"/download/{upload.token}"
        else:
            out["received"] = self.ledger.received(upload.id)
        return out

    def download(self, token: str) -> tuple[Upload, str]:
        """The upload and stored-file key for a download token, or a 404 :class:`DropError`."""
        upload = self.ledger.by_token(token) if _TOKEN.fullmatch(token) else None
        if upload is None or upload.sha256 is None:
            raise DropError(404, "not found")
        if upload.stored is not None:
            key: str | None = upload.stored
        else:  # finished before every upload had its own name
            blob = self.ledger.blob(upload.sha256)
            key = blob[0] if blob else None
        if key is None or not self.storage.exists(key, upload.size):
            raise DropError(404, "the file is no longer stored")
        return upload, key

    # housekeeping ----------------------------------------------------------------------------------------

    def recover(self, grace: float = 0.0) -> None:
        """After a crash or restart: uploads caught while finishing are finished again or marked failed.

        Only uploads that no live process is finishing (their claim is free) and that went into finishing
        more than ``grace`` seconds ago are touched, so every node of a cluster may run this at any time
        (the sweeper does, and so finishes what a dead node left half-done). Files that a dead publisher left
        visible with no upload row go first, so that finishing again shows the upload under its own name.
        """
        # another node's live publication is not in self.live: in a shared ledger, only intents older than any
        # publication takes are dead ones
        self.unpublish_orphans(grace if self.ledger.single_process else max(grace, PUBLISH_GRACE))
        for upload in self.ledger.stale("finishing", time.time() - grace):
            with self.ledger.claim(f"finish:{upload.id}") as mine:
                if not mine:
                    continue
                if not self.storage.has_partial(upload.id):
                    self.ledger.set_state(upload.id, "failed", error="interrupted while finishing", expect="finishing")
                    continue
                self.ledger.set_state(upload.id, "partial", expect="finishing")
                if len(self.ledger.received(upload.id)) == upload.chunk_count and self.ledger.set_state(
                    upload.id, "finishing", expect="partial"
                ):
                    self._finish_claimed(upload.id)
