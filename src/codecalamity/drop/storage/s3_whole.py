"""Small uploads in S3 in one request each, and what the store accepts as a part.

* **A whole small file, one PutObject.** An upload that arrives whole in one request and fits in memory
  (:data:`WHOLE_MAX`; a tus creation-with-upload, a plain upload, the only chunk of a Dropzone upload) is put at
  its final key with ``If-None-Match: *``: published whole or not at all, never over another object, with no
  multipart upload and no staging object. A key reserved by another upload's multipart upload is skipped; the
  reservation and the put are ordered so that one of the two always sees the other (see :func:`put_new` and
  :func:`~codecalamity.drop.storage.s3_parts.reserve`).
* **Parts under 5 MiB.** S3 itself, and MinIO, refuse a part under 5 MiB unless it is the last one
  (``EntityTooSmall``); SeaweedFS takes them. :func:`accepts_small_parts` asks the store once, with a tiny
  multipart upload of two one-byte parts; where they are taken, every Dropzone chunk is a part of its own, so
  its bytes are written once. ``CALAMITY_DROP_STRICT_PARTS=1`` (on every node) skips the probe and keeps to
  5 MiB parts whatever the store says.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from codecalamity.drop.names import disk_name, numbered
from codecalamity.drop.storage.s3_parts import INCOMING, error_code

if TYPE_CHECKING:
    from codecalamity.drop.storage.s3 import S3Storage
    from codecalamity.drop.storage.s3_bucket import S3Bucket

logger = logging.getLogger(__name__)

# The largest upload put in one request; held in memory until its request ends (``send`` and the page send
# files up to 8 MiB whole).
WHOLE_MAX = 8 * 1024 * 1024
STRICT_ENV = "CALAMITY_DROP_STRICT_PARTS"
TAKEN = ("PreconditionFailed", "412")


def accepts_small_parts(bucket: S3Bucket) -> bool:
    """Whether the store completes a multipart upload whose first part is one byte (the object is deleted)."""
    from botocore.exceptions import ClientError

    if os.environ.get(STRICT_ENV, "") not in ("", "0"):
        return False
    key = bucket.full_key(f"{INCOMING}/.probe-{secrets.token_hex(8)}")
    mpu = str(bucket.call("create_multipart_upload", Key=key)["UploadId"])
    try:
        parts = []
        for number in (1, 2):
            reply = bucket.call("upload_part", Key=key, UploadId=mpu, PartNumber=number, Body=b"x", ContentLength=1)
            parts.append({"PartNumber": number, "ETag": reply["ETag"]})
        bucket.call("complete_multipart_upload", Key=key, UploadId=mpu, MultipartUpload={"Parts": parts})
    except ClientError as err:
        bucket.abort_quietly(key, mpu, full=True)
        if error_code(err) in ("EntityTooSmall", "InvalidPart", "InvalidRequest"):
            logger.info("the object store refuses parts under 5 MiB: small chunks are joined into parts")
            return False
        raise
    bucket.delete_quietly(key)
    logger.info("the object store takes parts under 5 MiB: every Dropzone chunk is a part of its own")
    return True


def candidates(name: str) -> Iterable[str]:
    """The keys ``name`` may be shown under, in the order they are tried."""
    base = disk_name(name)
    return (numbered(base, n) for n in range(10000))


def put_new(storage: S3Storage, name: str, body: bytes, skip: set[str]) -> str:
    """Put ``body`` at the first key derived from ``name`` that holds no object and is not in ``skip`` (keys that
    multipart uploads reserve); return the key.

    The caller then records the key in a transaction that fails when a multipart upload reserved it meanwhile;
    :func:`~codecalamity.drop.storage.s3_parts.reserve` looks for an object after recording its reservation.
    So a reservation and a put at the same key cannot both go on: whichever comes second sees the first.
    """
    from botocore.exceptions import ClientError

    for candidate in candidates(name):
        if candidate in skip:
            continue
        try:
            storage.call(
                "put_object", Key=storage.full_key(candidate), Body=body, ContentLength=len(body), IfNoneMatch="*"
            )
        except ClientError as err:
            if error_code(err) in TAKEN:
                continue
            raise OSError(errno.EIO, f"storing {name!r} failed: {err}") from err
        return candidate
    raise OSError(errno.EEXIST, f"no free name for {name!r}")
