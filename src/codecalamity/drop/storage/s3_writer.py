"""One request's bytes on their way to S3: parts of the upload's multipart upload where they can be, staging
objects where they cannot.

Bytes that fill a whole region of the upload (see :mod:`codecalamity.drop.storage.s3_parts`) are uploaded as
that region's part straight away, in a background thread while the request goes on; so are the bytes of the last
region once they reach the upload's end. Bytes before the first region boundary of a request (a tus PATCH that
resumes mid-region, a small Dropzone chunk) become a staging object, joined into its region's part when the
upload finishes. At most two parts of a request are in memory, never the upload, never the local disk.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import errno
import threading
from typing import TYPE_CHECKING

from codecalamity.drop.storage.s3_parts import part_ref

if TYPE_CHECKING:
    from codecalamity.drop.ledger.assemblies import Assembly
    from codecalamity.drop.storage import Piece
    from codecalamity.drop.storage.s3 import S3Storage


@dataclasses.dataclass(frozen=True)
class Layout:
    """How an upload is cut: its part size, its size (None while unknown) and whether it takes parts at all."""

    part_size: int
    size: int | None
    parts: bool


class _Held:
    """Bytes of a request not yet shipped, kept as the pieces they arrived in: appending never copies (a
    growing ``bytearray`` copied a part's bytes several times over as it grew, once its front had been cut)."""

    def __init__(self) -> None:
        self.pieces: collections.deque[memoryview] = collections.deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        self.pieces.append(memoryview(data))
        self._size += len(data)

    def take(self, n: int) -> bytes:
        """The first ``n`` bytes, joined into one, no longer held."""
        taken: list[memoryview] = []
        while n > 0:
            piece = self.pieces.popleft()
            if len(piece) > n:
                self.pieces.appendleft(piece[n:])
                piece = piece[:n]
            taken.append(piece)
            n -= len(piece)
            self._size -= len(piece)
        return b"".join(taken)

    def drop(self, n: int) -> None:
        """Forget the first ``n`` bytes."""
        while n > 0:
            piece = self.pieces.popleft()
            if len(piece) > n:
                self.pieces.appendleft(piece[n:])
                piece = piece[:n]
            n -= len(piece)
            self._size -= len(piece)

    def clear(self) -> None:
        self.pieces.clear()
        self._size = 0


class _Stream:
    """The body of a part uploaded while its bytes arrive: read by the uploading thread, fed by the request."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._given = 0
        self._chunks: collections.deque[memoryview] = collections.deque()
        self._cond = threading.Condition()
        self._failed = False

    def feed(self, data: bytes | memoryview) -> None:
        with self._cond:
            self._chunks.append(memoryview(data))
            self._cond.notify()

    def fail(self) -> None:
        """The request ended before the part was whole: the upload of the part fails."""
        with self._cond:
            self._failed = True
            self._cond.notify()

    def read(self, amt: int | None = -1) -> bytes:
        with self._cond:
            while not self._chunks and not self._failed and self._given < self._size:
                self._cond.wait()
            if self._failed:
                raise OSError(errno.ECONNABORTED, "the request ended before the part was whole")
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            if amt is not None and 0 <= amt < len(data):  # the client reads in blocks: the rest waits, uncopied
                self._chunks.appendleft(data[amt:])
                data = data[:amt]
            self._given += len(data)
            return bytes(data)


class PartWriter:
    """Ships one request's bytes as parts or staging objects; hands out where they went when they are stored.

    When the request will carry a region whole (:meth:`expect`), its part is uploaded while the bytes arrive, so
    the part is stored moments after its last byte came; otherwise it is uploaded once its bytes are all here.
    """

    def __init__(self, storage: S3Storage, upload_id: str, layout: Layout | None = None) -> None:
        self._storage = storage
        self._upload_id = upload_id
        self._layout = layout
        self._assembly: Assembly | None = None
        self._lock = threading.Lock()
        self._buf = _Held()
        self._start = -1
        self._sent: list[tuple[concurrent.futures.Future[str], int, int]] = []
        self._end = -1
        self._stream: tuple[_Stream, concurrent.futures.Future[str], int] | None = None
        """The part being uploaded while its bytes arrive: its body, its upload and its size."""

    def expect(self, end: int) -> None:
        """The request will carry bytes up to ``end`` (its parts can be uploaded as the bytes come)."""
        self._end = end

    def write_at(self, offset: int, data: bytes) -> None:
        if self._start < 0:
            self._start = offset
        elif offset != self._start + len(self._buf):
            self._abandon_stream()
            self._ship(len(self._buf), part=False)
            self._start = offset
        self._buf.append(data)
        if self._stream is not None:
            stream, _, size = self._stream
            fed = len(self._buf) - len(data)
            if fed < size:
                stream.feed(data[: size - fed])
        self._ship_ready()

    def _get_layout(self) -> Layout:
        if self._layout is None:
            self._layout = self._storage.layout(self._upload_id)
        return self._layout

    def _ship_ready(self) -> None:
        layout = self._get_layout()
        step = layout.part_size
        while self._buf:
            start, end = self._start, self._start + len(self._buf)
            if start % step:  # up to the next region boundary: a staging object
                boundary = start - start % step + step
                if end < boundary:
                    return
                self._ship(boundary - start, part=False)
                continue
            stop = start + step if layout.size is None else min(start + step, layout.size)
            if stop == start:
                return
            if end < stop:
                if layout.parts and self._stream is None and self._end >= stop:
                    self._open_stream(stop - start)
                return
            if self._stream is not None:  # the part went up while its bytes came
                _, future, size = self._stream
                self._stream = None
                self._sent.append((future, start, size))
                self._buf.drop(size)
                self._start += size
                continue
            self._ship(stop - start, part=layout.parts)

    def _open_stream(self, size: int) -> None:
        stream = _Stream(size)
        for piece in self._buf.pieces:
            stream.feed(piece)
        number = self._start // self._get_layout().part_size + 1
        future = self._storage.streams.submit(self._put_part, number, stream, size)
        self._stream = (stream, future, size)

    def _abandon_stream(self) -> None:
        """The bytes of the streamed part will not all come: its upload fails; they go as a staging object."""
        if self._stream is not None:
            stream, future, _ = self._stream
            self._stream = None
            stream.fail()
            future.add_done_callback(_ignore)

    def _ship(self, n: int, *, part: bool) -> None:
        if n == 0:
            return
        body = self._buf.take(n)
        start = self._start
        self._start += n
        pool = self._storage.pool
        if part:
            number = start // self._get_layout().part_size + 1
            future: concurrent.futures.Future[str] = pool.submit(self._put_part, number, body)
        else:
            future = pool.submit(self._put_piece, self._storage.piece_key(self._upload_id, start), body)
        self._sent.append((future, start, n))

    def _put_piece(self, key: str, body: bytes) -> str:
        self._storage.put(key, body)
        return key

    def _put_part(self, number: int, body: bytes | _Stream, size: int | None = None) -> str:
        from botocore.exceptions import ClientError

        with self._lock:
            if self._assembly is None:
                self._assembly = self._storage.assembly_for(self._upload_id, self._get_layout().part_size)
            assembly = self._assembly
        try:
            reply = self._storage.call(
                "upload_part",
                Key=self._storage.full_key(assembly.key),
                UploadId=assembly.mpu,
                PartNumber=number,
                Body=body,
                ContentLength=len(body) if isinstance(body, bytes) else size,
            )
        except ClientError as err:  # the multipart upload is gone (expired, or finished by a retry)
            raise OSError(errno.EIO, f"storing part {number} failed: {err}") from err
        return part_ref(number, str(reply["ETag"]))

    async def drain(self) -> None:
        # at most one part on its way while the next fills: two parts of this request in memory at most
        while len(pending := [f for f, _, _ in self._sent if not f.done()]) > 1:
            await asyncio.wrap_future(pending[0])

    async def checkpoint(self) -> tuple[int, list[Piece]] | None:
        done: list[Piece] = []
        try:
            while self._sent and self._sent[0][0].done():
                future, start, n = self._sent[0]
                done.append((start, n, future.result()))
                self._sent.pop(0)
        except BaseException:
            self._storage.discard_pieces(done)
            self.close()
            raise
        if not done:
            return None
        return done[-1][0] + done[-1][1], done

    async def flush(self) -> list[Piece]:
        self._abandon_stream()
        self._ship(len(self._buf), part=False)
        try:
            for future, _, _ in self._sent:
                await asyncio.wrap_future(future)
        except BaseException:
            self.close()
            raise
        pieces = [(start, n, future.result()) for future, start, n in self._sent]
        self._sent = []
        return pieces

    def close(self) -> None:
        # whatever was not handed out is nobody's: staging objects are deleted once stored (a part is left to
        # the multipart upload, which a retry overwrites and expiry aborts)
        self._abandon_stream()
        self._buf.clear()
        for future, _, _ in self._sent:
            future.add_done_callback(self._storage.cleanup)
        self._sent = []


def _ignore(future: concurrent.futures.Future[str]) -> None:
    """An abandoned part's upload failed, as it had to (its bytes went as a staging object)."""
    future.exception()
