"""The upload endpoint of Dropzone.js's chunk protocol (the tutorial's pyfiledrop), plain uploads too.

Multipart fields have no defined order. Dropzone sends its ``dz*`` fields before the file part, and then the
bytes stream straight to their place in the upload; when the file part comes first (curl ``-F file=@x -F
dzuuid=...``, some forms and HTTP libraries), its bytes are held in a partial file of their own in the chunks
area until the form ends, and then either become the chunk its fields describe or, with no ``dz*`` field at
all, a plain upload.
"""

from __future__ import annotations

import logging
import sqlite3

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from codecalamity.drop.auth import PasswordGate
from codecalamity.drop.chunks import FIELDS, ChunkSink, CompareSink, WholeSink, parse_upload_id
from codecalamity.drop.config import MAX_CHUNK_BYTES, DropConfig
from codecalamity.drop.errors import BadRequest, DropError, TooLarge
from codecalamity.drop.formstream import Field, FileData, FileStart, FormStream
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.plumbing import body_pieces, content_length, error_response, ledger_error

logger = logging.getLogger(__name__)
# Room for the form fields and part headers around a chunk's bytes.
FORM_OVERHEAD = 64 * 1024
CHUNK_FIELDS = ("dzuuid", *FIELDS)


class Dropzone:
    """``POST /upload`` (a chunk, or a whole file) and ``GET /upload/{id}`` (what has arrived)."""

    def __init__(self, config: DropConfig, inbox: Inbox, gate: PasswordGate) -> None:
        self.config = config
        self.inbox = inbox
        self.gate = gate

    async def upload(self, request: Request) -> Response:
        """Stream one multipart request's file into the inbox."""
        if not self.gate.authorised(request):
            return self.gate.denied(request)
        length = content_length(request)
        limit = max(self.config.max_size, MAX_CHUNK_BYTES) + FORM_OVERHEAD
        if length is not None and length > limit:
            return error_response(TooLarge(f"request body is over {limit} bytes"))
        sink: ChunkSink | CompareSink | WholeSink | None = None
        self.inbox.bump(+1)
        try:
            form = FormStream(request.headers.get("content-type", ""))
            fields: dict[str, str] = {}
            filename = ""
            async for body in body_pieces(request, self.config.timeout):
                for event in form.feed(body):
                    if isinstance(event, FileData):
                        assert sink is not None
                        sink.write(event.data)
                        await sink.drain()
                    elif isinstance(event, Field):
                        if event.name in fields and event.name.startswith("dz"):
                            raise BadRequest(f"field {event.name} is given more than once")
                        fields[event.name] = event.value
                    elif isinstance(event, FileStart):
                        if sink is not None or event.name != "file":
                            raise BadRequest("send exactly one file, in the field 'file'")
                        filename = event.filename
                        if all(name in fields for name in CHUNK_FIELDS):
                            sink = await self.inbox.call(self.inbox.begin_chunk, fields, filename)
                        else:  # a plain upload, or a chunk whose fields follow its bytes: decided at the end
                            sink = self.inbox.begin_whole(filename, length)
            form.finish()
            if sink is None:
                raise BadRequest("No file provided")
            if isinstance(sink, WholeSink) and sink.chunk is None and any(name in fields for name in CHUNK_FIELDS):
                held, sink = sink, None
                sink = await self.inbox.chunk_from_held(held, fields, filename)
            result = await self.inbox.complete(sink)
            sink = None
            return JSONResponse(result)
        except DropError as err:
            return error_response(err)
        except sqlite3.OperationalError as err:
            return error_response(ledger_error(err))
        except TimeoutError:
            return error_response(DropError(408, "the client sent nothing for too long"))
        except ClientDisconnect:
            logger.info("client went away mid-request")
            return Response(status_code=400)
        finally:
            if sink is not None:
                sink.abort()
                if isinstance(sink, WholeSink) and sink.on_disk:
                    self.inbox.storage.discard_partial(sink.partial_id)
            self.inbox.bump(-1)

    async def status(self, request: Request) -> Response:
        """Which chunks of an upload have arrived, and whether it is stored."""
        if not self.gate.authorised(request):
            return self.gate.denied(request)
        try:
            upload_id = parse_upload_id(request.path_params["upload_id"])
            return JSONResponse(await self.inbox.call(self.inbox.status, upload_id))
        except DropError as err:
            return error_response(err)
