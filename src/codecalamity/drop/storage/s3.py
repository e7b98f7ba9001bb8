"""S3-compatible object storage (``--storage s3://BUCKET/PREFIX``), shared by every node of a cluster.

How requests map onto S3 (the design, in short):

* **One multipart upload per upload, at its final key.** The first bytes that fill a region of the upload (8 MiB,
  or a Dropzone chunk of 5 MiB or more) start a multipart upload at the key the file will be published under,
  reserved in the ledger (``assemblies``) so no other upload or copy takes it. Each region becomes its part as
  soon as its bytes are in one request (see :mod:`codecalamity.drop.storage.s3_writer`): a tus PATCH streams
  straight into parts, in a background thread while the request goes on. The part, or a staging object for
  bytes that do not fill a region (``PREFIX/.incoming/<upload id>/``: a small Dropzone chunk, the start of a
  PATCH resumed mid-region), is recorded in the ledger with the chunk or with the tus offset it advances; one
  that loses a race (the same chunk from two nodes, a superseded PATCH) is never recorded. So any node can take
  any request.
* **Finishing.** The regions still made of staging objects are uploaded as parts (one object's range by
  UploadPartCopy, server-side; several small ones streamed through, block by block), then
  CompleteMultipartUpload with ``If-None-Match: *`` publishes the object whole or not at all, never over another.
  The sha256 is the one a node computed while the bytes arrived in order (a tus upload sent in one go); else it
  is computed while the staging objects are streamed into parts, or by reading the object once it is complete.
* **Deduplication** by sha256 across all nodes in the ledger; an upload of content stored already under another
  name is published from its own parts (object stores have no hard links: a copy would cost as much).
* **Expiry** deletes an upload's staging objects and aborts its multipart upload; :meth:`S3Storage.abandon`
  aborts multipart uploads a dead node left behind.

Downloads stream from the store through the node, with Range (not a redirect to a presigned URL: the store
stays private to the cluster, and the token check, file name and headers stay in one place).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from codecalamity.drop.names import shown_as
from codecalamity.drop.storage import s3_sweep, s3_whole
from codecalamity.drop.storage.s3_bucket import S3Bucket
from codecalamity.drop.storage.s3_parts import (
    GONE,
    INCOMING,
    MAX_PARTS,
    MIN_PART,
    READ_BLOCK,
    Assembled,
    assemble,
    check_covered,
    complete,
    completed,
    copy_object,
    error_code,
    parse_ref,
    part_size_for,
    publish_empty,
    reserve,
)
from codecalamity.drop.storage.s3_whole import WHOLE_MAX
from codecalamity.drop.storage.s3_writer import Layout, PartWriter

if TYPE_CHECKING:
    from codecalamity.drop.ledger.assemblies import Assembly
    from codecalamity.drop.ledger.sql import SqlLedger
    from codecalamity.drop.storage import Piece

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
MAX_CHUNK_PART = 64 * MIB
# A Dropzone chunk of 5 MiB up to this size is one part on its own (larger ones are cut into 8 MiB parts).


class S3Storage(S3Bucket):
    """Uploads in an S3 bucket under a prefix; see the module's docstring for the design.

    Parameters
    ----------
    url
        ``s3://BUCKET/PREFIX``.
    ledger
        Where the parts and staging objects of each upload are recorded (shared by every node).
    endpoint
        The S3 endpoint URL; ``None`` means boto3's standard lookup (``AWS_ENDPOINT_URL``, the AWS config).
    max_size
        The largest upload (``--max-size``): an upload whose length is not known yet is cut for that size.
    """

    preallocates = True
    """Nothing to reserve: the object store's space is not this machine's disk."""
    piece_size = 8 * MIB
    """Staging objects of an upload that arrives whole in one request without a ledger row are this big."""
    commit_every = 8 * MIB
    writes_in_place = False
    links_cheaply = False
    whole_max = WHOLE_MAX

    def __init__(self, url: str, ledger: SqlLedger, endpoint: str | None = None, max_size: int = 1 << 40) -> None:
        super().__init__(url, endpoint)
        self.ledger = ledger
        self.max_size = max_size
        self._small_parts: bool | None = None

    # assemblies ------------------------------------------------------------------------------------------

    def layout(self, upload_id: str) -> Layout:
        """How ``upload_id`` is cut into parts (the same on every node: from its ledger row)."""
        upload = self.ledger.get(upload_id)
        if upload is None:  # bytes of a request not recorded yet (a plain upload): staging objects only
            return Layout(self.piece_size, None, parts=False)
        assembly = self.ledger.assembly(upload_id)
        deferred = upload.chunk_count == 1 and self.ledger.tus_extras(upload_id)[1]
        size = None if deferred else upload.size
        if assembly is not None:
            return Layout(assembly.part_size, size, parts=True)
        if 1 < upload.chunk_count <= MAX_PARTS and upload.chunk_size <= MAX_CHUNK_PART:
            # a Dropzone chunk is a part of its own where the store takes it (5 MiB or more, or any size: see
            # s3_whole); else small chunks are staging objects, joined into 8 MiB parts when the upload finishes
            if upload.chunk_size >= MIN_PART or self.small_parts():
                return Layout(upload.chunk_size, size, parts=True)
        return Layout(part_size_for(self.max_size if deferred else upload.size), size, parts=True)

    def assembly_for(self, upload_id: str, part_size: int) -> Assembly:
        """The multipart upload of ``upload_id``, started (at a reserved key) if it has none yet."""
        found = self.ledger.assembly(upload_id)
        if found is None:
            upload = self.ledger.get(upload_id)
            if upload is None:
                raise OSError(errno.ENOENT, f"upload {upload_id} is gone")
            joined = self.ledger.tus_extras(upload_id)[0] == "partial"
            found = reserve(self, upload_id, None if joined else upload.name, part_size)
        if found.part_size != part_size:
            raise OSError(errno.EIO, f"upload {upload_id} is cut in parts of {found.part_size} bytes, not {part_size}")
        return found

    def _assemble(self, upload_id: str, size: int, hash_it: bool) -> tuple[Assembly, Assembled]:
        from botocore.exceptions import ClientError

        pieces = self.ledger.pieces(upload_id)
        check_covered(pieces, size, f"upload {upload_id}")
        assembly = self.ledger.assembly(upload_id) or self.assembly_for(upload_id, self.layout(upload_id).part_size)
        try:
            return assembly, assemble(self, assembly, pieces, size, hash_it)
        except ClientError as err:
            if error_code(err) in GONE and completed(self, assembly, size):
                return assembly, Assembled([], None, completed=True)
            raise OSError(errno.EIO, f"assembling upload {upload_id} failed: {err}") from err

    def small_parts(self) -> bool:
        """Whether the store takes parts under 5 MiB (asked once; see :mod:`codecalamity.drop.storage.s3_whole`)."""
        if self._small_parts is None:
            with self.lock:
                if self._small_parts is None:
                    self._small_parts = s3_whole.accepts_small_parts(self)
        return self._small_parts

    def put_whole(self, name: str, body: bytes, skip: set[str]) -> str:
        """One PutObject of a whole small upload at a free key (see :func:`s3_whole.put_new`)."""
        if not body:
            return publish_empty(self, name)
        return s3_whole.put_new(self, name, body, skip)

    # the Storage protocol --------------------------------------------------------------------------------

    def prepare(self, upload_id: str, size: int) -> None:
        """Nothing to make: the multipart upload starts with the first part."""

    def resize(self, upload_id: str, size: int) -> None:
        """Nothing reserved, nothing to resize (a deferred length only changes the ledger's size)."""

    def writer(self, upload_id: str) -> PartWriter:
        """A writer into the upload's parts, cut as its ledger row says (read now: the caller is off the loop)."""
        return PartWriter(self, upload_id, self.layout(upload_id))

    def concatenate(self, upload_id: str, parts: list[tuple[str, int]]) -> list[Piece]:
        """Complete each partial upload's own multipart upload (at its hidden key) and return those objects as
        the pieces of the final upload, which copies them server-side when it is published."""
        pieces: list[Piece] = []
        offset = 0
        for part_id, size in parts:
            if size == 0:
                continue
            assembly, assembled = self._assemble(part_id, size, hash_it=False)
            if not assembled.completed:
                complete(self, assembly, assembled.parts, size)
            pieces.append((offset, size, self._key(assembly.key)))
            offset += size
        return pieces

    def idle_partials(self, before: float) -> list[str]:
        return s3_sweep.idle_partials(self, before)

    def read_partial(self, upload_id: str, offset: int, size: int) -> bytes:
        """Bytes of staging objects a writer flushed under ``upload_id`` (recorded or not), from ``offset``."""
        listed: list[tuple[int, int, str]] = []
        for key, length in self.listing(self._key(f"{INCOMING}/{upload_id}/")):
            begins = key.rsplit("/", 1)[1].split("-", 1)[0]
            if begins.isdigit():
                listed.append((int(begins), length, key))
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
        # the parts are in the ledger and the store, which outlive any node
        return True

    def digest(self, upload_id: str, size: int, known: str | None = None) -> str:
        """Check every byte is stored and upload the regions that are not parts yet; the sha256 is ``known``,
        or computed on the way, or read from the completed object."""
        if size == 0:
            check_covered(self.ledger.pieces(upload_id), 0, f"upload {upload_id}")
            return known or hashlib.sha256().hexdigest()
        assembly, assembled = self._assemble(upload_id, size, hash_it=known is None)
        if known is None and assembled.sha is None:
            if not assembled.completed:
                complete(self, assembly, assembled.parts, size)
                assembled.completed = True
            assembled.sha = self._sha(self._key(assembly.key))
        with self.lock:
            self.assembled[upload_id] = assembled
        return known or str(assembled.sha)

    def _sha(self, key: str) -> str:
        sha = hashlib.sha256()
        body = self.call("get_object", Key=key)["Body"]
        try:
            while block := body.read(READ_BLOCK):
                sha.update(block)
        finally:
            body.close()
        return sha.hexdigest()

    def place(self, upload_id: str, name: str) -> str:
        upload = self.ledger.get(upload_id)
        size = upload.size if upload is not None else 0
        if size == 0:
            return publish_empty(self, name)
        with self.lock:
            assembled = self.assembled.pop(upload_id, None)
        assembly = self.ledger.assembly(upload_id)
        if assembled is None or assembly is None:
            assembly, assembled = self._assemble(upload_id, size, hash_it=False)
        if not assembled.completed:
            complete(self, assembly, assembled.parts, size)
        return assembly.key

    def link(self, key: str, name: str) -> str:
        """A server-side copy of ``key`` under a new, unused name, part by part (UploadPartCopy: objects of any
        size, where one CopyObject stops at 5 GiB). Object stores have no hard links: the content takes its
        space twice."""
        size = int(self.call("head_object", Key=self._key(key))["ContentLength"])
        if size == 0:
            return publish_empty(self, name)
        assembly = reserve(self, f"link:{secrets.token_hex(8)}", name, part_size_for(size))
        try:
            complete(self, assembly, copy_object(self, self._key(key), size, assembly), size)
        except BaseException:
            self.abort_quietly(assembly.key, assembly.mpu)
            raise
        finally:
            self.ledger.drop_assembly(assembly.upload_id, assembly.mpu)
        return assembly.key

    def copies(self, name: str, size: int, sha256: str, source: str, partial: bool) -> list[str]:
        """Published objects shown as ``name`` whose content is ``sha256`` (object stores have no links: the
        content is read back; only at start-up, and only for objects of the right name and size)."""
        found = []
        prefix = self._key("")
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self.call("list_objects_v2", Prefix=prefix, **token)
            keys += [str(item["Key"]) for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        for key in keys:
            short = key[len(prefix) :]
            if short.startswith(".") or "/" in short or not shown_as(short, name) or not self.exists(short, size):
                continue
            sha = hashlib.sha256()
            for block in self.read(short, 0, size):
                sha.update(block)
            if sha.hexdigest() == sha256:
                found.append(short)
        return found

    def path(self, key: str) -> Path:
        """Object storage has no local path (downloads use :meth:`read`)."""
        raise ValueError(f"{key!r} is in object storage, not on a local disk")

    def discard_partial(self, upload_id: str) -> None:
        s3_sweep.discard_partial(self, upload_id)

    def discard_pieces(self, pieces: list[Piece]) -> None:
        """Delete staging objects that lost a race to be recorded (a part is overwritten by a retry or aborted
        with its multipart upload)."""
        for _, _, where in pieces:
            if parse_ref(where) is None:
                self.delete_quietly(where)

    def remove(self, key: str) -> None:
        self.delete_quietly(self._key(key))

    def free_bytes(self) -> int:
        return 1 << 62  # the store's capacity is not ours to measure

    def abandon(self, before: float) -> int:
        return s3_sweep.abandon(self, before)
