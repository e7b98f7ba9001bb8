"""An S3 bucket under a prefix, as the object-store backend talks to it: the client, the calls (an unreachable
store becomes a 503), and the object plumbing that does not depend on uploads.

:class:`~codecalamity.drop.storage.s3.S3Storage` builds the drop server's storage on it.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from codecalamity._errors import UsageError
from codecalamity.drop.errors import Unavailable
from codecalamity.drop.storage.s3_parts import GONE, INCOMING, READ_BLOCK, Assembled, error_code, parse_ref

logger = logging.getLogger(__name__)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` as ``(bucket, prefix)``; the prefix has no slashes at either end."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"--storage must be a folder or s3://BUCKET/PREFIX, got {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3Bucket:
    """One bucket and prefix; the S3 calls every part of the object-store backend makes.

    Parameters
    ----------
    url
        ``s3://BUCKET/PREFIX``.
    endpoint
        The S3 endpoint URL; ``None`` means boto3's standard lookup (``AWS_ENDPOINT_URL``, the AWS config).
    """

    def __init__(self, url: str, endpoint: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = parse_s3_url(url)
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL") or None,
            config=Config(
                # Payloads go unsigned (UNSIGNED-PAYLOAD): a composed part streams from other objects and
                # cannot be hashed before it is sent, and hashing every part for the signature would cost a
                # sha256 pass per byte; the bytes are checked by the whole upload's sha256 before publishing.
                s3={"addressing_style": "path", "payload_signing_enabled": False},
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=3,
                read_timeout=120,
                max_pool_connections=32,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3-part")
        # parts uploaded while their bytes arrive wait on their clients: their own threads, so a slow client
        # never holds up the other requests' uploads
        self.streams = concurrent.futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="s3-stream")
        self.assembled: dict[str, Assembled] = {}
        self.lock = threading.Lock()

    def full_key(self, name: str) -> str:
        """The object key of ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    _key = full_key

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

    def copy_part(self, key: str, mpu: str, number: int, source: tuple[str, int, int]) -> str:
        """Part ``number`` of ``mpu`` copied server-side from bytes ``first``-``last`` of object ``source``."""
        what, first, last = source
        reply = self.call(
            "upload_part_copy",
            Key=key,
            UploadId=mpu,
            PartNumber=number,
            CopySource={"Bucket": self.bucket, "Key": what},
            CopySourceRange=f"bytes={first}-{last}",
        )
        return str(reply["CopyPartResult"]["ETag"])

    def delete_quietly(self, key: str) -> None:
        """Delete an object; a failure is logged (expiry will find the leftovers)."""
        from botocore.exceptions import ClientError

        try:
            self.call("delete_object", Key=key)
        except (Unavailable, ClientError) as err:
            logger.warning("could not delete %s: %s", key, err)

    def cleanup(self, future: concurrent.futures.Future[str]) -> None:
        """Delete a staging object that a writer stored but never handed out, once it is stored."""
        if future.cancelled() or future.exception() is not None or parse_ref(key := future.result()) is not None:
            return
        try:
            self.pool.submit(self.delete_quietly, key)
        except RuntimeError:  # shutting down: the pool takes no more work
            self.delete_quietly(key)

    def close(self) -> None:
        """Wait for background uploads, then release the thread pools."""
        self.streams.shutdown(wait=True)
        self.pool.shutdown(wait=True)

    def abort_quietly(self, name: str, mpu: str, *, full: bool = False) -> None:
        from botocore.exceptions import ClientError

        try:
            self.call("abort_multipart_upload", Key=name if full else self._key(name), UploadId=mpu)
        except ClientError as err:
            if error_code(err) not in GONE:
                logger.warning("could not abort multipart upload of %s: %s", name, err)
        except Unavailable as err:
            logger.warning("could not abort multipart upload of %s: %s", name, err)

    def exists(self, key: str, size: int | None) -> bool:
        from botocore.exceptions import ClientError

        try:
            head = self.call("head_object", Key=self._key(key))
        except ClientError:
            return False
        return size is None or int(head["ContentLength"]) == size

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

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        token: dict[str, str] = {}
        while True:
            page = self.call("list_objects_v2", Prefix=prefix, **token)
            for item in page.get("Contents", []):
                yield str(item["Key"]), int(item["Size"])
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}
