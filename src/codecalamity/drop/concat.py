"""tus concatenation: partial uploads (``Upload-Concat: partial``) joined into one final upload
(``Upload-Concat: final;/files/a /files/b``), as tus-js-client and Uppy send a file with ``parallelUploads``.

While the parts arrive, each is its own file in the chunks folder: a standard client creates the parts before it
names the final upload, so the server cannot know where a part belongs, and cannot write it into one shared file.
The final upload's creation checks every part, claims them all in one ledger transaction, then joins them with
``copy_file_range`` (the kernel copies; on btrfs or XFS a reflink, no data written at all), records the final
upload and forgets the parts in one more transaction, and publishes it like any other upload (its sha256 read
once from the joined file: sha256 states of separate parts cannot be combined). The final upload's id is derived
from its parts, so a client that lost the reply and asks again gets the same upload, not a 400.

https://tus.io/protocols/resumable-upload#concatenation
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread

from codecalamity.drop.chunks import disk_error, parse_upload_id
from codecalamity.drop.errors import BadRequest, Conflict, TooLarge, Unavailable

if TYPE_CHECKING:
    from codecalamity.drop.inbox import Inbox

logger = logging.getLogger(__name__)
PREFIX = "/files/"
MAX_PARTS = 256
# Parts one final upload may join (tus-js-client sends ``parallelUploads`` of them, usually 2-8).
_NAMESPACE = uuid.UUID("7f1c1a52-6a8e-4d0e-9d55-0c5b7a3a61f2")


def parse_final(value: str, host: str | None) -> list[str]:
    """The partial upload ids that an ``Upload-Concat: final;<url> <url> ...`` header names, in order.

    Raises
    ------
    BadRequest
        No parts, too many, one named twice, or a URL that is not an upload on this server (``host``).
    """
    urls = value.removeprefix("final;").split()
    if not urls:
        raise BadRequest("Upload-Concat: final; names no partial uploads")
    if len(urls) > MAX_PARTS:
        raise BadRequest(f"a final upload joins at most {MAX_PARTS} partial uploads")
    ids = []
    for url in urls:
        parts = urlsplit(url)
        foreign = (parts.scheme or parts.netloc) and (
            parts.scheme not in ("http", "https") or parts.netloc.lower() != (host or "").lower()
        )
        if foreign or not parts.path.startswith(PREFIX) or parts.query or parts.fragment:
            raise BadRequest(f"{url[:120]!r} is not an upload on this server")
        try:
            ids.append(parse_upload_id(parts.path[len(PREFIX) :]))
        except BadRequest:
            raise BadRequest(f"{url[:120]!r} is not an upload on this server") from None
    if len(set(ids)) != len(ids):
        raise BadRequest("Upload-Concat: final; names a partial upload twice")
    return ids


def final_id(part_ids: list[str]) -> str:
    """The final upload's id: the same parts in the same order always make the same final upload."""
    return str(uuid.uuid5(_NAMESPACE, " ".join(part_ids)))


def header(part_ids: list[str]) -> str:
    """The ``Upload-Concat`` value of a final upload, as HEAD returns it."""
    return "final;" + " ".join(PREFIX + part_id for part_id in part_ids)


def check_parts(inbox: Inbox, part_ids: list[str]) -> list[tuple[str, int]]:
    """Each part as ``(id, size)``, after checking it is a finished partial upload and the sum fits the limit."""
    parts = []
    for part_id in part_ids:
        found = inbox.ledger.tus_get(part_id)
        if found is None:
            raise BadRequest(f"there is no partial upload {part_id}")
        upload, offset, _ = found
        role, deferred = inbox.ledger.tus_extras(part_id)
        if role != "partial":
            raise BadRequest(f"upload {part_id} is not a partial upload (create it with Upload-Concat: partial)")
        if deferred or offset != upload.size:
            got = f"{offset} bytes of {'an unknown length' if deferred else upload.size}"
            raise BadRequest(f"partial upload {part_id} is not finished ({got})")
        if upload.state != "partial":
            raise Conflict(f"partial upload {part_id} is already being joined into another upload")
        parts.append((part_id, upload.size))
    total = sum(size for _, size in parts)
    if total > inbox.config.max_size:
        raise TooLarge(f"the parts add up to {total} bytes, the limit is {inbox.config.max_size}")
    return parts


async def join(inbox: Inbox, upload_id: str, parts: list[tuple[str, int]], name: str, metadata: str) -> dict[str, Any]:
    """Join finished partial uploads into the new final upload ``upload_id``, publish it, return its status."""
    part_ids = [part_id for part_id, _ in parts]
    total = sum(size for _, size in parts)
    inbox.check_space(total)
    if not inbox.ledger.tus_claim(part_ids):
        raise Conflict("a partial upload changed or is already being joined into another upload")
    try:
        pieces = await anyio.to_thread.run_sync(inbox.storage.concatenate, upload_id, parts)
    except (OSError, Unavailable) as err:
        for part_id in part_ids:
            inbox.ledger.set_state(part_id, "partial", expect="finishing")
        if isinstance(err, Unavailable):
            raise
        raise disk_error(err) from err
    inbox.ledger.tus_join(upload_id, name, total, metadata, header(part_ids), part_ids, pieces)
    for part_id in part_ids:
        inbox.storage.discard_partial(part_id)
    logger.info("joined %d partial uploads into %s (%d bytes)", len(parts), upload_id, total)
    return await inbox.finish(upload_id)
