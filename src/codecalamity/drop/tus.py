"""The tus 1.0 resumable-upload protocol under ``/files/``: core, creation, creation-with-upload,
creation-defer-length, termination, checksum, expiration and concatenation (see :mod:`codecalamity.drop.concat`),
on the same storage, limits, auth, dedup and expiry as the Dropzone path.

https://tus.io/protocols/resumable-upload
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from codecalamity.drop import concat
from codecalamity.drop.auth import PasswordGate
from codecalamity.drop.chunks import Owners, disk_error
from codecalamity.drop.errors import BadRequest, DropError, TooLarge
from codecalamity.drop.names import display_name
from codecalamity.drop.plumbing import body_pieces
from codecalamity.drop.tus_patch import (
    CHECKSUMS,
    EXTENSIONS,
    OFFSET_STREAM,
    VERSION,
    TusError,
    TusPatching,
    parse_checksum,
    parse_metadata,
    tus_id,
)

if TYPE_CHECKING:
    from codecalamity.drop.inbox import Inbox

logger = logging.getLogger(__name__)


class Tus(TusPatching):
    """The ``/files/`` endpoints around one :class:`Inbox`."""

    def __init__(self, inbox: Inbox, gate: PasswordGate) -> None:
        self.inbox = inbox
        self.gate = gate
        self.owners = Owners()
        self.running: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        # per upload: (offset, sha256 of bytes 0..offset), while the bytes arrive in order in this process; at
        # most RUNNING_MAX (an upload that falls out is hashed from disk when it finishes, as Dropzone's are)

    def routes(self) -> list[Route]:
        return [
            Route("/files/", self.collection, methods=["OPTIONS", "POST"]),
            Route("/files/{upload_id}", self.resource, methods=["OPTIONS", "HEAD", "PATCH", "DELETE"]),
        ]

    def _options(self) -> Response:
        return Response(
            status_code=204,
            headers=self._headers(
                {
                    "Tus-Version": VERSION,
                    "Tus-Extension": EXTENSIONS,
                    "Tus-Max-Size": str(self.inbox.config.max_size),
                    "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
                }
            ),
        )

    def _check_version(self, request: Request) -> None:
        if request.headers.get("tus-resumable") != VERSION:
            raise TusError(412, f"this server speaks tus {VERSION} (send Tus-Resumable: {VERSION})")

    async def collection(self, request: Request) -> Response:
        return await self._guarded(request, self._create)

    async def resource(self, request: Request) -> Response:
        return await self._guarded(request, self._on_resource)

    async def _guarded(self, request: Request, action: Callable[[Request], Awaitable[Response]]) -> Response:
        """OPTIONS needs nothing; everything else needs auth and Tus-Resumable, and turns refusals into replies."""
        if request.method == "OPTIONS":
            return self._options()
        if not self.gate.authorised(request):
            return self.gate.denied(request)
        try:
            self._check_version(request)
            return await action(request)
        except DropError as err:
            return self._error(err)

    async def _on_resource(self, request: Request) -> Response:
        upload_id = tus_id(request.path_params["upload_id"])
        if request.method == "HEAD":
            return await self.inbox.call(self._head, upload_id)
        if request.method == "PATCH":
            return await self._patch(request, upload_id)
        return await self._delete(upload_id)

    async def _create(self, request: Request) -> Response:
        role = request.headers.get("upload-concat")
        if role is not None and role.startswith("final;"):
            return await self._create_final(request, role)
        if role not in (None, "partial"):
            raise BadRequest("Upload-Concat must be 'partial' or 'final;<upload URLs>'")
        raw_length, defer = request.headers.get("upload-length"), request.headers.get("upload-defer-length")
        if raw_length is None and defer != "1":
            raise BadRequest("Upload-Length (or Upload-Defer-Length: 1) is required")
        if raw_length is not None and defer is not None:
            raise BadRequest("send Upload-Length or Upload-Defer-Length, not both")
        deferred = raw_length is None
        length = 0 if raw_length is None else self._length(raw_length)
        metadata = request.headers.get("upload-metadata", "")
        filename = parse_metadata(metadata).get("filename", "") or "upload"
        whole = (
            request.headers.get("content-type") == OFFSET_STREAM and request.headers.get("content-length") == raw_length
        )
        at_once = self.inbox.storage.writes_in_place or length <= self.inbox.whole_max
        if whole and raw_length is not None and role is None and at_once:
            # one step when the bytes are published straight from the partial file, or held in memory and put
            # in the object store in one request; a partial upload (tus concatenation) stays open until joined
            return await self._create_whole(request, filename, length, metadata)
        name = display_name(filename)
        upload_id = str(uuid.uuid4())
        self.inbox.check_space(length)
        try:
            self.inbox.storage.prepare(upload_id, length)
        except OSError as err:
            raise disk_error(err) from err
        upload = await self.inbox.call(self.inbox.ledger.tus_create, upload_id, name, length, metadata, role, deferred)
        headers = {"Location": f"/files/{upload_id}", **self._expires()}
        if request.headers.get("content-type") == OFFSET_STREAM:  # creation-with-upload
            response = await self._patch(request, upload_id, created=(upload, role, deferred))
            headers.update({k: v for k, v in response.headers.items() if k.lower().startswith("upload-")})
        elif length == 0 and not deferred and role is None:
            headers.update(await self._complete(upload_id, 0))
        return Response(status_code=201, headers=self._headers(headers))

    async def _create_final(self, request: Request, role: str) -> Response:
        if "upload-length" in request.headers or "upload-defer-length" in request.headers:
            raise BadRequest("a final upload's length is the sum of its parts: send no Upload-Length")
        part_ids = concat.parse_final(role, request.headers.get("host"))
        upload_id = concat.final_id(part_ids)
        found = self.inbox.ledger.tus_get(upload_id)
        if found is not None:  # asked again (the first reply was lost): the same final upload
            upload, offset, _ = found
            headers = self._done_headers(upload.state, upload.sha256, upload.token)
            if upload.state == "partial" and offset == upload.size:
                headers = await self._complete(upload_id, upload.size)
        else:
            parts = concat.check_parts(self.inbox, part_ids)
            metadata = request.headers.get("upload-metadata", "")
            name = parse_metadata(metadata).get("filename", "")
            first = self.inbox.ledger.tus_get(part_ids[0])
            if not name and first is not None:  # tus-js-client names the final upload; others may name the parts
                name = parse_metadata(first[2]).get("filename", "")
            status = await concat.join(self.inbox, upload_id, parts, display_name(name or "upload"), metadata)
            headers = self._done_headers(status["state"], status.get("sha256"), status.get("token"))
        headers["Location"] = f"/files/{upload_id}"
        return Response(status_code=201, headers=self._headers(headers))

    async def _create_whole(self, request: Request, filename: str, length: int, metadata: str) -> Response:
        """creation-with-upload carrying the whole file (every small file): streamed to a partial file, then
        flushed, published and recorded in one step. A client cut off mid-body never learnt the upload's URL,
        so there is nothing to resume: what arrived is dropped."""
        checksum = parse_checksum(request.headers.get("upload-checksum"))
        sink = self.inbox.begin_whole(filename, length)
        self.inbox.bump(+1)
        try:
            try:
                async for piece in body_pieces(request, self.inbox.config.timeout):
                    if sink.written + len(piece) > length:
                        raise TooLarge("more bytes than Upload-Length")
                    sink.write(piece)
                    if checksum is not None:
                        checksum[1].update(piece)
            except (ClientDisconnect, TimeoutError) as err:
                raise DropError(408 if isinstance(err, TimeoutError) else 400, "the client stopped sending") from None
            if sink.written != length:
                raise BadRequest(f"the body has {sink.written} bytes, Upload-Length says {length}")
            if checksum is not None and not hmac.compare_digest(checksum[1].digest(), checksum[0]):
                raise TusError(460, "Checksum Mismatch")
        except BaseException:
            sink.abort()
            if sink.on_disk:
                self.inbox.storage.discard_partial(sink.partial_id)
            raise
        finally:
            self.inbox.bump(-1)
        status = await self.inbox.finish_whole(sink, tus_metadata=metadata)
        headers = {
            "Location": f"/files/{status['id']}",
            "Upload-Offset": str(length),
            **self._expires(),
            **self._done_headers(status["state"], status.get("sha256"), status.get("token")),
        }
        return Response(status_code=201, headers=self._headers(headers))

    def _head(self, upload_id: str) -> Response:
        found = self.inbox.ledger.tus_get(upload_id)
        if found is None:
            raise self._missing(upload_id)
        upload, offset, metadata = found
        role, deferred = self.inbox.ledger.tus_extras(upload_id)
        headers = {"Upload-Offset": str(offset), **self._done_headers(upload.state, upload.sha256, upload.token)}
        if deferred:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.size)
        if role is not None:
            headers["Upload-Concat"] = role
        if metadata:
            headers["Upload-Metadata"] = metadata
        return Response(status_code=200, headers=self._headers(headers))

    async def _delete(self, upload_id: str) -> Response:
        found = await self.inbox.call(self.inbox.ledger.tus_get, upload_id)
        if found is None:
            raise self._missing(upload_id)
        if found[0].state == "finishing":
            raise DropError(409, "the upload is being finished or joined; it cannot be removed now")
        if self.owners.busy(upload_id):
            self.owners.release((upload_id, -1), None)
        self.running.pop(upload_id, None)
        await self.inbox.call(self.inbox.forget, found[0])
        return Response(status_code=204, headers=self._headers())
