"""How an upload's stored bytes become one object: the parts of its multipart upload, region by region.

An upload is cut into regions of the part size of its assembly (``[k * size, (k + 1) * size)``, the last one
shorter); region ``k`` is part ``k + 1``. A region is either a part already uploaded while the bytes arrived
(nothing left to do), a range of one stored object (a server-side UploadPartCopy, never a CopyObject, so objects
of any size can be copied), or bytes of several small objects (streamed through this process into one part).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codecalamity.drop.names import disk_name, numbered

if TYPE_CHECKING:
    from codecalamity.drop.ledger.assemblies import Assembly
    from codecalamity.drop.storage import Piece
    from codecalamity.drop.storage.s3 import S3Storage

MIB = 1024 * 1024
MIN_PART = 5 * MIB
MAX_PARTS = 10000
BASE_PART = 8 * MIB
READ_BLOCK = 1 * MIB
PART = "#"
INCOMING = ".incoming"
JOINED = "joined"
# A tus partial upload (concatenation) is assembled at .incoming/<id>/joined, not under a name of its own.
GONE = ("NoSuchUpload", "404", "NotFound", "NoSuchKey")
# Error codes of a multipart upload or object that is not there (any more).


def error_code(err: Exception) -> str:
    """The S3 error code of a botocore ClientError."""
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))


def part_size_for(size: int) -> int:
    """The part size for ``size`` bytes: 8 MiB, doubled until the parts fit S3's limit of 10,000."""
    part = BASE_PART
    while part * MAX_PARTS < size:
        part *= 2
    return part


def part_ref(number: int, etag: str) -> str:
    """Where bytes are when they were uploaded as part ``number`` of the upload's multipart upload."""
    return f"{PART}{number}:{etag}"


def parse_ref(where: str) -> tuple[int, str] | None:
    """``(number, etag)`` of a part reference, or None for an object's key."""
    if not where.startswith(PART):
        return None
    number, _, etag = where[1:].partition(":")
    return int(number), etag


@dataclasses.dataclass
class Assembled:
    """The parts of a multipart upload, ready to complete; its sha256 when it was read on the way."""

    parts: list[dict[str, Any]]
    sha: str | None = None
    completed: bool = False


class Pipe:
    """A file-like view of ranges of stored objects read one after another (the body of a composed part),
    hashing what it reads when given a hash."""

    def __init__(self, storage: S3Storage, ranges: list[tuple[str, int, int]], sha: Any = None) -> None:
        self._storage = storage
        self._ranges = list(ranges)
        self._body: Any = None
        self._sha = sha

    def read(self, amt: int | None = -1) -> bytes:
        want = READ_BLOCK if amt is None or amt < 0 else amt
        while True:
            if self._body is None:
                if not self._ranges:
                    return b""
                key, first, last = self._ranges.pop(0)
                self._body = self._storage.call("get_object", Key=key, Range=f"bytes={first}-{last}")["Body"]
            data = bytes(self._body.read(want))
            if data:
                if self._sha is not None:
                    self._sha.update(data)
                return data
            self._body.close()
            self._body = None


def check_covered(pieces: list[Piece], size: int, what: str) -> None:
    """Raise OSError unless ``pieces`` hold bytes 0 to ``size`` exactly, each once."""
    end = 0
    for start, length, _ in pieces:
        if start != end:
            raise OSError(errno.EIO, f"{what} has no bytes at {end}-{start}")
        end += length
    if end != size:
        raise OSError(errno.EIO, f"{what} has {end} bytes stored, expected {size}")


def assemble(storage: S3Storage, assembly: Assembly, pieces: list[Piece], size: int, hash_it: bool) -> Assembled:
    """Upload every region that is not a part yet; with ``hash_it``, the sha256 too while every region so far was
    read in order (a region already uploaded as a part cannot be read before the object is complete)."""
    check_covered(pieces, size, f"upload {assembly.upload_id}")
    key = storage.full_key(assembly.key)
    sha = hashlib.sha256() if hash_it else None
    parts: list[dict[str, Any]] = []
    first = 0
    step = assembly.part_size
    for number, start in enumerate(range(0, size, step), 1):
        stop = min(start + step, size)
        while pieces[first][0] + pieces[first][1] <= start:
            first += 1
        sources = []
        for piece in pieces[first:]:
            if piece[0] >= stop:
                break
            sources.append(piece)
        ref = parse_ref(sources[0][2])
        if ref is not None:
            if sources[0][:2] != (start, stop - start) or ref[0] != number:
                raise OSError(errno.EIO, f"upload {assembly.upload_id}: part {ref[0]} does not line up")
            parts.append({"PartNumber": number, "ETag": ref[1]})
            sha = None
            continue
        if any(parse_ref(where) is not None for _, _, where in sources):
            raise OSError(errno.EIO, f"upload {assembly.upload_id}: part {number} mixes parts and objects")
        ranges = [(where, max(start, at) - at, min(stop, at + length) - at - 1) for at, length, where in sources]
        if len(ranges) == 1:
            etag = storage.copy_part(key, assembly.mpu, number, ranges[0])
            if sha is not None:
                pipe = Pipe(storage, ranges, sha)
                while pipe.read(READ_BLOCK):
                    pass
        else:
            body = Pipe(storage, ranges, sha)
            etag = storage.call(
                "upload_part",
                Key=key,
                UploadId=assembly.mpu,
                PartNumber=number,
                Body=body,
                ContentLength=stop - start,
            )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return Assembled(parts, None if sha is None else sha.hexdigest())


def copy_object(storage: S3Storage, source: str, size: int, assembly: Assembly) -> list[dict[str, Any]]:
    """The parts that copy the whole object ``source`` (a full key) into ``assembly``, server-side."""
    key = storage.full_key(assembly.key)
    parts = []
    for number, start in enumerate(range(0, size, assembly.part_size), 1):
        stop = min(start + assembly.part_size, size)
        etag = storage.copy_part(key, assembly.mpu, number, (source, start, stop - 1))
        parts.append({"PartNumber": number, "ETag": etag})
    return parts


def reserve(storage: S3Storage, owner: str, name: str | None, part_size: int) -> Assembly:
    """Start a multipart upload at a key derived from ``name`` that no file and no other assembly has (a tus
    partial upload, ``name`` None, at its own hidden key); record it for ``owner``."""
    if name is None:
        candidates: Iterator[str] = iter([f"{INCOMING}/{owner}/{JOINED}"])
    else:
        base = disk_name(name)
        candidates = (numbered(base, n) for n in range(10000))
    for candidate in candidates:
        if name is not None and (storage.ledger.key_reserved(candidate) or storage.exists(candidate, None)):
            continue
        mpu = str(storage.call("create_multipart_upload", Key=storage.full_key(candidate))["UploadId"])
        found = storage.ledger.add_assembly(owner, candidate, mpu, part_size)
        if found is None or found.mpu != mpu:  # the key was taken meanwhile, or another node started first
            storage.abort_quietly(candidate, mpu)
        elif name is not None and storage.exists(candidate, None):
            # a small upload was put there whole meanwhile (see s3_whole.put_new): it keeps the key
            storage.ledger.drop_assembly(owner, mpu)
            storage.abort_quietly(candidate, mpu)
            continue
        if found is not None:
            return found
    raise OSError(errno.EEXIST, f"no free name for {name!r}")


def complete(storage: S3Storage, assembly: Assembly, parts: list[dict[str, Any]], size: int) -> None:
    """Publish ``assembly``'s object from ``parts``: whole, and only where nothing is."""
    from botocore.exceptions import ClientError

    try:
        storage.call(
            "complete_multipart_upload",
            Key=storage.full_key(assembly.key),
            UploadId=assembly.mpu,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )
    except ClientError as err:
        # completed already (a finish that a dead node or a lost reply interrupted): the reserved key is ours
        if error_code(err) in ("PreconditionFailed", "412", *GONE) and completed(storage, assembly, size):
            return
        raise OSError(errno.EIO, f"storing {assembly.key!r} failed: {err}") from err


def completed(storage: S3Storage, assembly: Assembly, size: int) -> bool:
    from botocore.exceptions import ClientError

    try:
        storage.call("list_parts", Key=storage.full_key(assembly.key), UploadId=assembly.mpu, MaxParts=1)
        return False  # still open: whatever is at the key is not this upload's
    except ClientError as err:
        if error_code(err) not in GONE:
            raise
    return storage.exists(assembly.key, size)


def publish_empty(storage: S3Storage, name: str) -> str:
    from botocore.exceptions import ClientError

    base = disk_name(name)
    for n in range(10000):
        candidate = numbered(base, n)
        if storage.ledger.key_reserved(candidate) or storage.exists(candidate, None):
            continue
        try:
            storage.call("put_object", Key=storage.full_key(candidate), Body=b"", IfNoneMatch="*")
            return candidate
        except ClientError as err:
            if error_code(err) not in ("PreconditionFailed", "412"):
                raise OSError(errno.EIO, f"storing {name!r} failed: {err}") from err
    raise OSError(errno.EEXIST, f"no free name for {name!r}")
