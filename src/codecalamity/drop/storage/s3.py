"""S3-compatible object storage (``--storage s3://BUCKET/PREFIX``), shared by every node of a cluster.

How requests map onto S3 (the design, in short):

* **Pieces while bytes arrive.** Each request streams into *pieces*: hidden staging objects under
  ``PREFIX/.incoming/<upload id>/``, at most :attr:`S3Storage.piece_size` bytes each, written by PutObject in
  a background thread while the request goes on (at most two pieces per request in memory, never the
  upload, never the local disk). A Dropzone chunk's pieces are recorded in the ledger together with the
  chunk, a tus PATCH's with the offset they advance; a piece that loses a race (the same chunk from two
  nodes, a superseded PATCH) is never recorded and is deleted. So any node can take any request.
* **Parts at the end.** When the upload is whole, its recorded pieces are read in order to check the size
  and compute the sha256 (unless one node saw every byte in order and hashed them on the way). If the
  content is new, one multipart upload turns the pieces into parts: a piece that is big enough on its own
  (>= 5 MiB, S3's minimum part size) becomes a part by UploadPartCopy, server-side; runs of smaller pieces
  (Dropzone's 1 MB chunks, short PATCHes) are composed into one part by streaming them through, block by
  block. Parts are at least ``size / 10000`` bytes, so S3's 10,000-part limit holds.
* **Atomic, unique publication.** CompleteMultipartUpload with ``If-None-Match: *`` on the chosen name: the
  object appears whole or not at all, and never replaces another (a taken name moves on to ``name (1)``...).
* **Expiry** deletes an upload's pieces, and :meth:`S3Storage.abandon` aborts multipart uploads that a dead
  node left behind.

Downloads stream from the store through the node, with Range (not a redirect to a presigned URL: the store
stays private to the cluster, and the token check, file name and headers stay in one place).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import hashlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from codecalamity._errors import UsageError
from codecalamity.drop.errors import Unavailable
from codecalamity.drop.names import disk_name, numbered

if TYPE_CHECKING:
    from codecalamity.drop.ledger.sql import SqlLedger
    from codecalamity.drop.storage import Piece

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART = 5 * MIB
MAX_PARTS = 10000
READ_BLOCK = 1 * MIB
INCOMING = ".incoming"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` as ``(bucket, prefix)``; the prefix has no slashes at either end."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"--storage must be a folder or s3://BUCKET/PREFIX, got {url!r}")
    return parts.netloc, parts.path.strip("/")


class _Pipe:
    """A file-like view of several pieces read one after another (the body of a composed part)."""

    def __init__(self, storage: S3Storage, keys: list[str]) -> None:
        self._storage = storage
        self._keys = keys
        self._body: Any = None

    def read(self, amt: int | None = -1) -> bytes:
        want = READ_BLOCK if amt is None or amt < 0 else amt
        while True:
            if self._body is None:
                if not self._keys:
                    return b""
                self._body = self._storage.call("get_object", Key=self._keys.pop(0))["Body"]
            data = bytes(self._body.read(want))
            if data:
                return data
            self._body.close()
            self._body = None


class _PieceWriter:
    """One request's bytes, shipped as pieces by background PutObjects; recorded only when flushed."""

    def __init__(self, storage: S3Storage, upload_id: str) -> None:
        self._storage = storage
        self._upload_id = upload_id
        self._buf = bytearray()
        self._start = -1
        self._sent: list[tuple[concurrent.futures.Future[None], Piece]] = []

    def write_at(self, offset: int, data: bytes) -> None:
        if self._start < 0:
            self._start = offset
        elif offset != self._start + len(self._buf):
            self._ship()
            self._start = offset
        self._buf += data
        size = self._storage.piece_size
        while len(self._buf) >= size:
            self._ship(size)

    def _ship(self, size: int | None = None) -> None:
        n = len(self._buf) if size is None else size
        if n == 0:
            return
        body = bytes(self._buf[:n])
        del self._buf[:n]
        key = self._storage.piece_key(self._upload_id, self._start)
        future = self._storage.pool.submit(self._storage.put, key, body)
        self._sent.append((future, (self._start, n, key)))
        self._start += n

    async def drain(self) -> None:
        # at most one piece on its way while the next fills: two pieces of this request in memory at most
        while len(pending := [f for f, _ in self._sent if not f.done()]) > 1:
            await asyncio.wrap_future(pending[0])

    async def flush(self) -> list[Piece]:
        self._ship()
        try:
            for future, _ in self._sent:
                await asyncio.wrap_future(future)
        except BaseException:
            self.close()
            raise
        pieces = [piece for _, piece in self._sent]
        self._sent = []
        return pieces

    def close(self) -> None:
        # whatever was not handed out by flush() is nobody's: delete it once its upload has ended
        self._buf = bytearray()
        for future, piece in self._sent:
            future.add_done_callback(_Cleanup(self._storage, piece[2]))
        self._sent = []


class _Cleanup:
    """Deletes a staging object once its upload has ended (whether or not it succeeded)."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self.storage = storage
        self.key = key

    def __call__(self, future: concurrent.futures.Future[None]) -> None:
        try:
            self.storage.pool.submit(self.storage.delete_quietly, self.key)
        except RuntimeError:  # shutting down: the pool takes no more work
            self.storage.delete_quietly(self.key)


class S3Storage:
    """Uploads in an S3 bucket under a prefix; see the module's docstring for the design.

    Parameters
    ----------
    url
        ``s3://BUCKET/PREFIX``.
    ledger
        Where the pieces of each upload are recorded (shared by every node).
    endpoint
        The S3 endpoint URL; ``None`` means boto3's standard lookup (``AWS_ENDPOINT_URL``, the AWS config).
    """

    preallocates = True
    """Nothing to reserve: the object store's space is not this machine's disk."""
    piece_size = 8 * MIB
    """Largest staging object; big enough to be a part on its own, small enough to keep two per request."""
    commit_every = 8 * MIB
    writes_in_place = False

    def __init__(self, url: str, ledger: SqlLedger, endpoint: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = parse_s3_url(url)
        self.ledger = ledger
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL") or None,
            config=Config(
                # Payloads go unsigned (UNSIGNED-PAYLOAD): a composed part streams from other objects and
                # cannot be hashed before it is sent, and hashing every piece for the signature would cost a
                # sha256 pass per byte; the bytes are checked by the whole upload's sha256 before publishing.
                s3={"addressing_style": "path", "payload_signing_enabled": False},
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=3,
                read_timeout=60,
                max_pool_connections=32,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3-piece")

    # plumbing --------------------------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def piece_key(self, upload_id: str, start: int) -> str:
        """A new staging object's key for bytes of ``upload_id`` from ``start`` (unique per attempt)."""
        return self._key(f"{INCOMING}/{upload_id}/{start:016d}-{secrets.token_hex(6)}")

    def call(self, operation: str, **kwargs: Any) -> Any:
        """One S3 call on the bucket; an unreachable store becomes :class:`Unavailable` (503)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as err:
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status >= 500:
                raise Unavailable(f"the object store failed: {err}") from err
            raise
        except BotoCoreError as err:
            raise Unavailable(f"the object store is unavailable: {err}") from err

    def put(self, key: str, body: bytes) -> None:
        """Store one staging object."""
        self.call("put_object", Key=key, Body=body, ContentLength=len(body))

    def delete_quietly(self, key: str) -> None:
        """Delete an object; a failure is logged (expiry will find the leftovers)."""
        from botocore.exceptions import ClientError

        try:
            self.call("delete_object", Key=key)
        except (Unavailable, ClientError) as err:
            logger.warning("could not delete %s: %s", key, err)

    def close(self) -> None:
        """Wait for background uploads, then release the thread pool."""
        self.pool.shutdown(wait=True)

    # the Storage protocol --------------------------------------------------------------------------------

    def prepare(self, upload_id: str, size: int) -> None:
        """Nothing to make: pieces are created as bytes arrive."""

    def resize(self, upload_id: str, size: int) -> None:
        """Nothing reserved, nothing to resize (a deferred length only changes the ledger's size)."""

    def concatenate(self, upload_id: str, parts: list[tuple[str, int]]) -> None:
        """tus concatenation is not supported on object storage yet (the parts' pieces would be re-recorded
        under the final upload, which the ledger creates only after this call)."""
        raise OSError(errno.EOPNOTSUPP, "tus concatenation is not supported with object storage")

    def idle_partials(self, before: float) -> list[str]:
        """Staging pieces always belong to a ledger row; orphans go with their upload (:meth:`discard_partial`)."""
        return []

    def writer(self, upload_id: str) -> _PieceWriter:
        return _PieceWriter(self, upload_id)

    def read_partial(self, upload_id: str, offset: int, size: int) -> bytes:
        """Bytes of staging pieces a writer flushed under ``upload_id`` (recorded or not), from ``offset``."""
        listed: list[tuple[int, int, str]] = []
        token: dict[str, str] = {}
        while True:
            page = self.call("list_objects_v2", Prefix=self._key(f"{INCOMING}/{upload_id}/"), **token)
            for item in page.get("Contents", []):
                key = str(item["Key"])
                listed.append((int(key.rsplit("/", 1)[1].split("-", 1)[0]), int(item["Size"]), key))
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        out = bytearray()
        for start, length, key in sorted(listed):
            at = offset + len(out)
            if len(out) >= size or start > at:
                break
            if start + length <= at:
                continue
            stop = min(start + length, offset + size)
            body = self.call("get_object", Key=key, Range=f"bytes={at - start}-{stop - start - 1}")["Body"]
            try:
                out += body.read()
            finally:
                body.close()
        return bytes(out)

    def has_partial(self, upload_id: str) -> bool:
        # the pieces are in the ledger and the store, which outlive any node
        return True

    def _pieces(self, upload_id: str, size: int) -> list[Piece]:
        pieces = self.ledger.pieces(upload_id)
        end = 0
        for start, length, _ in pieces:
            if start != end:
                raise OSError(errno.EIO, f"upload {upload_id} has no bytes at {end}-{start}")
            end += length
        if end != size:
            raise OSError(errno.EIO, f"upload {upload_id} has {end} bytes stored, expected {size}")
        return pieces

    def digest(self, upload_id: str, size: int, known: str | None = None) -> str:
        pieces = self._pieces(upload_id, size)
        if known is not None:
            return known
        sha = hashlib.sha256()
        pipe = _Pipe(self, [key for _, _, key in pieces])
        while block := pipe.read(READ_BLOCK):
            sha.update(block)
        return sha.hexdigest()

    def place(self, upload_id: str, name: str) -> str:
        upload = self.ledger.get(upload_id)
        size = upload.size if upload is not None else 0
        return self._unique(name, self._pieces(upload_id, size), size)

    def link(self, key: str, name: str) -> str:
        """A server-side copy of ``key`` under a new, unused name (created only if absent: If-None-Match).

        Object stores have no hard links: the content then takes its space twice.
        """
        size = int(self.call("head_object", Key=self._key(key))["ContentLength"])
        return self._unique(name, [(0, size, self._key(key))] if size else [], size)

    def _unique(self, name: str, pieces: list[Piece], size: int) -> str:
        from botocore.exceptions import ClientError

        base = disk_name(name)
        for n in range(10000):
            candidate = numbered(base, n)
            if self.exists(candidate, None):
                continue
            try:
                self._publish(self._key(candidate), pieces, size)
                return candidate
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                    raise OSError(errno.EIO, f"storing {name!r} failed: {err}") from err
        raise OSError(errno.EEXIST, f"no free name for {name!r}")

    def _publish(self, key: str, pieces: list[Piece], size: int) -> None:
        """Assemble ``pieces`` into the object ``key``, which must not exist yet (412 otherwise)."""
        if not pieces:
            self.call("put_object", Key=key, Body=b"", IfNoneMatch="*")
            return
        target = max(MIN_PART, -(-size // MAX_PARTS))
        mpu = self.call("create_multipart_upload", Key=key)["UploadId"]
        try:
            parts = []
            for number, group in enumerate(_groups(pieces, target), 1):
                if len(group) == 1:
                    result = self.call(
                        "upload_part_copy",
                        Key=key,
                        UploadId=mpu,
                        PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": group[0][2]},
                    )
                    etag = result["CopyPartResult"]["ETag"]
                else:
                    body = _Pipe(self, [k for _, _, k in group])
                    length = sum(n for _, n, _ in group)
                    etag = self.call(
                        "upload_part", Key=key, UploadId=mpu, PartNumber=number, Body=body, ContentLength=length
                    )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
            self.call(
                "complete_multipart_upload",
                Key=key,
                UploadId=mpu,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            self._abort_quietly(key, mpu)
            raise

    def _abort_quietly(self, key: str, mpu: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.call("abort_multipart_upload", Key=key, UploadId=mpu)
        except (Unavailable, ClientError) as err:
            logger.warning("could not abort multipart upload of %s: %s", key, err)

    def exists(self, key: str, size: int | None) -> bool:
        from botocore.exceptions import ClientError

        try:
            head = self.call("head_object", Key=self._key(key))
        except ClientError:
            return False
        return size is None or int(head["ContentLength"]) == size

    def path(self, key: str) -> Path:
        """Object storage has no local path (downloads use :meth:`read`)."""
        raise ValueError(f"{key!r} is in object storage, not on a local disk")

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """The stored file's bytes ``start`` to ``stop`` (exclusive), streamed in blocks."""
        if stop <= start:
            return
        body = self.call("get_object", Key=self._key(key), Range=f"bytes={start}-{stop - 1}")["Body"]
        try:
            while block := body.read(READ_BLOCK):
                yield block
        finally:
            body.close()

    def discard_partial(self, upload_id: str) -> None:
        for key in self._listing(self._key(f"{INCOMING}/{upload_id}/")):
            self.delete_quietly(key)

    def discard_pieces(self, pieces: list[Piece]) -> None:
        """Delete staging objects that lost a race and were never recorded."""
        for _, _, key in pieces:
            self.delete_quietly(key)

    def _listing(self, prefix: str) -> Iterator[str]:
        token: dict[str, str] = {}
        while True:
            page = self.call("list_objects_v2", Prefix=prefix, **token)
            for item in page.get("Contents", []):
                yield str(item["Key"])
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def remove(self, key: str) -> None:
        self.delete_quietly(self._key(key))

    def free_bytes(self) -> int:
        return 1 << 62  # the store's capacity is not ours to measure

    def abandon(self, before: float) -> int:
        """Abort multipart uploads under the prefix started before ``before`` (a node died while publishing)."""
        aborted = 0
        page = self.call("list_multipart_uploads", Prefix=self._key(""))
        for item in page.get("Uploads", []):
            if item["Initiated"].timestamp() < before:
                self._abort_quietly(item["Key"], item["UploadId"])
                aborted += 1
        return aborted


def _groups(pieces: list[Piece], target: int) -> Iterator[list[Piece]]:
    """Consecutive pieces in groups of at least ``target`` bytes (the last may be smaller): one part each."""
    group: list[Piece] = []
    size = 0
    for piece in pieces:
        group.append(piece)
        size += piece[1]
        if size >= target:
            yield group
            group, size = [], 0
    if group:
        yield group
