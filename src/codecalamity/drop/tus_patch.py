"""The tus protocol's PATCH (appending bytes at the upload's offset) and the replies every tus endpoint shares;
:class:`~codecalamity.drop.tus.Tus` builds the ``/files/`` endpoints on them."""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from codecalamity.drop.chunks import Owners, WholeSink, disk_error, parse_upload_id
from codecalamity.drop.errors import BadRequest, DropError, TooLarge, Unavailable
from codecalamity.drop.ledger import Upload
from codecalamity.drop.plumbing import body_pieces

if TYPE_CHECKING:
    from codecalamity.drop.inbox import Inbox
    from codecalamity.drop.storage import ChunkWriter, Piece

logger = logging.getLogger(__name__)

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OFFSET_STREAM = "application/offset+octet-stream"
RUNNING_MAX = 1024


class TusError(DropError):
    """A tus-specific refusal (412 wrong version, 460 checksum mismatch, ...)."""


class TusPatching:
    """PATCH and the shared replies (mixed into :class:`~codecalamity.drop.tus.Tus`)."""

    inbox: Inbox
    owners: Owners
    running: OrderedDict[str, tuple[int, Any]]

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Tus-Resumable": VERSION, "Cache-Control": "no-store", **(extra or {})}

    def _error(self, err: DropError) -> Response:
        headers = self._headers({"Tus-Version": VERSION} if err.status == 412 else None)
        if isinstance(err, Unavailable):
            headers["Retry-After"] = str(err.retry_after)
        return Response(str(err) + "\n", status_code=err.status, headers=headers, media_type="text/plain")

    def _missing(self, upload_id: str) -> DropError:
        """404 for an id never seen; 410 and why for an upload that ended unfinished (expired, or its partial file
        lost) within the last ``--partial-ttl``: a client learns it must create a new upload, not that it typed a
        wrong URL."""
        reason = self.inbox.ledger.gone(upload_id)
        if reason is None:
            return DropError(404, "no such upload")
        return DropError(410, f"this upload ended unfinished ({reason}); create a new upload and send the file again")

    def _length(self, raw: str) -> int:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
            raise BadRequest("Upload-Length must be a non-negative integer")
        length = int(raw)
        if length > self.inbox.config.max_size:
            raise TooLarge(f"upload is {length} bytes, the limit is {self.inbox.config.max_size}")
        return length

    async def _patch(
        self, request: Request, upload_id: str, created: tuple[Upload, str | None, bool] | None = None
    ) -> Response:
        """Append the body at the upload's offset; ``created`` is the upload (with its concatenation role and
        whether its length is deferred) that this very request created."""
        if request.headers.get("content-type") != OFFSET_STREAM:
            raise DropError(415, f"PATCH needs Content-Type: {OFFSET_STREAM}")
        raw_offset: str | None = "0"
        if created is not None:
            (upload, role, deferred), offset = created, 0
        else:
            found, (role, deferred) = await self.inbox.call(self._lookup, upload_id)
            if found is None:
                raise await self.inbox.call(self._missing, upload_id)
            upload, offset, _ = found
            raw_offset = request.headers.get("upload-offset")
        if role is not None and role.startswith("final;"):
            raise DropError(403, "a final upload is made of its parts; it takes no PATCH")
        if raw_offset is None or not (raw_offset.isascii() and raw_offset.isdigit()):
            raise BadRequest("Upload-Offset is required")
        if int(raw_offset) != offset:
            raise DropError(409, f"Upload-Offset {raw_offset} does not match the server's {offset}")
        if upload.state != "partial":
            # 409 while finishing or when done (all bytes are here); 410 when it failed or is gone for good
            gone = offset != upload.size or upload.state == "failed"
            raise DropError(
                410 if gone else 409,
                f"upload is {upload.state}" + (f": {upload.error}" if gone and upload.error else ""),
            )
        size: int | None = upload.size
        raw_length = request.headers.get("upload-length")
        if deferred and raw_length is not None:  # creation-defer-length: the length, at last
            size = self._length(raw_length)
            if size < offset:
                raise BadRequest(f"Upload-Length {size} is less than the {offset} bytes already received")
            self.inbox.check_space(size - offset)
            try:
                self.inbox.storage.resize(upload_id, size)
            except OSError as err:
                raise disk_error(err) from err
            self.inbox.ledger.tus_set_length(upload_id, size)
        elif deferred:
            size = None
        elif raw_length is not None and raw_length != str(upload.size):
            raise BadRequest(f"this upload's length is {upload.size}; it cannot change")
        limit = self.inbox.config.max_size if size is None else size
        checksum = parse_checksum(request.headers.get("upload-checksum"))
        whole = request.headers.get("content-length") == str(size) and offset == 0 and not deferred
        if whole and role is None and size is not None and 0 < size <= self.inbox.whole_max:
            return await self._patch_whole(request, upload, checksum)
        key = (upload_id, -1)
        self.owners.take(key, request)
        writer = await self.inbox.call(self.inbox.storage.writer, upload_id)
        raw_body = request.headers.get("content-length", "")
        if raw_body.isascii() and raw_body.isdigit():
            writer.expect(offset + int(raw_body))
        running = self.running.get(upload_id)
        # a copy: bytes this request hashes count only once committed (not after a 460, a 413 or a newer PATCH)
        sha = running[1].copy() if running is not None and running[0] == offset else None
        if sha is None and offset == 0 and role is None:  # a part's hash is no use: the final is hashed whole
            sha = hashlib.sha256()
        position = committed = offset
        try:
            with self._receiving(key, request):
                try:
                    async for piece in self._owned_pieces(key, request):
                        if position + len(piece) > limit:
                            raise TooLarge(
                                "more bytes than Upload-Length" if size is not None else "over the size limit"
                            )
                        try:
                            writer.write_at(position, piece)
                        except OSError as err:
                            raise disk_error(err) from err
                        await writer.drain()
                        if checksum is not None:
                            checksum[1].update(piece)
                        if sha is not None:
                            sha.update(piece)
                        position += len(piece)
                        if checksum is None and position - committed >= self.inbox.storage.commit_every:
                            stored = await writer.checkpoint()
                            if stored is not None:
                                # the hash is of bytes up to position: it is worth keeping only at position
                                at, pieces = stored
                                committed = await self._advance(upload_id, committed, at, pieces, sha, at == position)
                except (ClientDisconnect, TimeoutError) as err:
                    # keep what arrived, unless a checksum said the bytes must be whole
                    if checksum is None and self.owners.owns(key, request) and position > committed:
                        await self._commit(upload_id, committed, position, sha, writer)
                    status = 408 if isinstance(err, TimeoutError) else 400
                    raise DropError(status, "the client stopped sending") from None
            if checksum is not None and not hmac.compare_digest(checksum[1].digest(), checksum[0]):
                raise TusError(460, "Checksum Mismatch")
            await self._commit(upload_id, committed, position, sha, writer)
        finally:
            writer.close()  # after a flush this only releases; unrecorded pieces are removed
        headers = {"Upload-Offset": str(position), **self._expires()}
        if position == size and role is None:
            headers.update(await self._complete(upload_id, size))
        return Response(status_code=204, headers=self._headers(headers))

    async def _patch_whole(self, request: Request, upload: Upload, checksum: tuple[bytes, Any] | None) -> Response:
        """A PATCH from offset 0 carrying the whole upload (a small file sent by a client that creates first, as
        tuspy does): held in memory, put in the object store in one request and recorded done in one ledger
        transaction (see :meth:`Inbox.finish_whole`). When the memory budget is spent, the bytes go to storage as
        they come and are committed as any PATCH's. A client cut off mid-body sends it again from offset 0."""
        upload_id, size = upload.id, upload.size
        sink = WholeSink(
            upload_id, upload.name, lambda: self.inbox.storage.writer(upload_id), size, held=self.inbox.held
        )
        key = (upload_id, -1)
        self.owners.take(key, request)
        try:
            with self._receiving(key, request):
                try:
                    async for piece in self._owned_pieces(key, request):
                        sink.write(piece)
                        await sink.drain()
                        if checksum is not None:
                            checksum[1].update(piece)
                except (ClientDisconnect, TimeoutError) as err:
                    raise DropError(
                        408 if isinstance(err, TimeoutError) else 400, "the client stopped sending"
                    ) from None
            if checksum is not None and not hmac.compare_digest(checksum[1].digest(), checksum[0]):
                raise TusError(460, "Checksum Mismatch")
            if sink.pieces is not None:
                status = await self.inbox.finish_whole(sink, existing=upload)
                done = self._done_headers(status["state"], status.get("sha256"), status.get("token"))
            else:
                pieces = await sink.flush_pieces()
                await self._advance(upload_id, 0, size, pieces, sink.sha, True)
                done = await self._complete(upload_id, size)
        finally:
            sink.abort()
        return Response(status_code=204, headers=self._headers({"Upload-Offset": str(size), **self._expires(), **done}))

    @contextlib.contextmanager
    def _receiving(self, key: tuple[str, int], request: Request) -> Iterator[None]:
        """Count ``request`` (which has taken ``key``) as an upload in flight; on leaving, give ``key`` up."""
        self.inbox.bump(+1)
        try:
            yield
        finally:
            self.owners.release(key, request)
            self.inbox.bump(-1)

    async def _owned_pieces(self, key: tuple[str, int], request: Request) -> AsyncIterator[bytes]:
        """The body's pieces while ``request`` still owns ``key``; 409 once a newer PATCH has taken it."""
        async for piece in body_pieces(request, self.inbox.config.timeout):
            if not self.owners.owns(key, request):
                raise DropError(409, "superseded by a newer PATCH for this upload")
            yield piece

    async def _commit(self, upload_id: str, committed: int, position: int, sha: Any, writer: ChunkWriter) -> int:
        """Store and record the bytes up to ``position``, if the offset is still where this PATCH began.

        Another node's newer PATCH may have moved it (a client retry): then this one stops, and its pieces,
        never recorded, are removed.
        """
        pieces = await writer.flush()
        return await self._advance(upload_id, committed, position, pieces, sha, True)

    async def _advance(
        self, upload_id: str, committed: int, position: int, pieces: list[Piece], sha: Any, hashed: bool
    ) -> int:
        """Record stored bytes up to ``position`` (``hashed``: ``sha`` is their hash) if the offset is still
        ``committed``; else this PATCH was superseded: its pieces go, and it stops."""
        if not await self.inbox.call(self._record_advance, upload_id, committed, position, pieces):
            raise DropError(409, "superseded by a newer PATCH for this upload")
        if sha is not None and hashed:
            self.running[upload_id] = (position, sha.copy())  # the request goes on hashing its own
            self.running.move_to_end(upload_id)
            while len(self.running) > RUNNING_MAX:
                self.running.popitem(last=False)
        return position

    def _record_advance(self, upload_id: str, committed: int, position: int, pieces: list[Piece]) -> bool:
        """Commit the offset (with the pieces) if it is still ``committed``; else the pieces go. Blocks."""
        if self.inbox.ledger.tus_advance(upload_id, position, expect=committed, pieces=pieces):
            return True
        self.inbox.storage.discard_pieces(pieces)
        return False

    def _lookup(self, upload_id: str) -> tuple[tuple[Upload, int, str] | None, tuple[str | None, bool]]:
        """The upload with its offset and metadata (or None), and its concatenation role and deferred flag."""
        return self.inbox.ledger.tus_get(upload_id), self.inbox.ledger.tus_extras(upload_id)

    async def _complete(self, upload_id: str, size: int) -> dict[str, str]:
        running = self.running.pop(upload_id, None)
        known = running[1].hexdigest() if running is not None and running[0] == size else None
        await self.inbox.call(self.inbox.ledger.add_chunk, upload_id, 0, size, known or "")
        status = await self.inbox.finish(upload_id, known_sha=known)
        return self._done_headers(status["state"], status.get("sha256"), status.get("token"))

    def _done_headers(self, state: str, sha256: str | None, token: str | None) -> dict[str, str]:
        if state != "done" or sha256 is None or token is None:
            return {}
        headers = {"Upload-Sha256": sha256, "Upload-Token": token}
        if self.inbox.config.allow_downloads:
            headers["Upload-Download"] = f"/download/{token}"
        return headers

    def _expires(self) -> dict[str, str]:
        """When an upload just touched expires if nothing more arrives (``--partial-ttl`` from now)."""
        when = time.time() + self.inbox.config.partial_ttl
        return {"Upload-Expires": email.utils.formatdate(when, usegmt=True)}


def tus_id(value: str) -> str:
    try:
        return parse_upload_id(value)
    except BadRequest:
        raise DropError(404, "no such upload") from None


def parse_metadata(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not header.strip():
        return out
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            raise BadRequest("malformed Upload-Metadata")
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8", "replace") if value else ""
        except (binascii.Error, ValueError):
            raise BadRequest(f"Upload-Metadata value for {key!r} is not base64") from None
    return out


def parse_checksum(header: str | None) -> tuple[bytes, Any] | None:
    if header is None:
        return None
    algorithm, _, value = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise BadRequest(f"unsupported checksum algorithm {algorithm!r} (use {', '.join(CHECKSUMS)})")
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Upload-Checksum value is not base64") from None
    return digest, CHECKSUMS[algorithm]()
