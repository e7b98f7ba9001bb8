"""The drop server's ASGI app: the page, the upload endpoint, upload status and downloads."""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from codecalamity.drop.chunks import ChunkSink, CompareSink, WholeSink, parse_upload_id
from codecalamity.drop.config import MAX_CHUNK_BYTES, DropConfig
from codecalamity.drop.errors import BadRequest, DropError, NoSpace, TooLarge
from codecalamity.drop.formstream import Field, FileData, FileStart, FormStream
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger import Ledger
from codecalamity.drop.page import render_page
from codecalamity.drop.storage import LocalStorage
from codecalamity.drop.tus import Tus

logger = logging.getLogger(__name__)
# Room for the form fields and part headers around a chunk's bytes.
FORM_OVERHEAD = 64 * 1024

ActivityHook = Callable[[int], None]


def _error(err: DropError) -> JSONResponse:
    return JSONResponse({"error": str(err)}, status_code=err.status)


class DropApp:
    """Request handlers around one :class:`Inbox`; ``create_app`` wires them into Starlette."""

    def __init__(self, config: DropConfig, inbox: Inbox) -> None:
        self.config = config
        self.inbox = inbox
        self.page = render_page(config)
        self.static = resources.files("codecalamity.drop") / "static"
        self._password = config.password.encode() if config.password else None

    def authorised(self, request: Request) -> bool:
        if self._password is None:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, given = base64.b64decode(value, validate=True).partition(b":")
        except ValueError:
            return False
        return hmac.compare_digest(given, self._password)

    def denied(self) -> Response:
        return JSONResponse(
            {"error": "password required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="calamity drop", charset="UTF-8"'},
        )

    async def index(self, request: Request) -> Response:
        if not self.authorised(request):
            return self.denied()
        return HTMLResponse(self.page, headers=self._page_headers())

    def _page_headers(self) -> dict[str, str]:
        outside = ""
        if self.config.dz_cdn and "//" in self.config.dz_cdn:
            url = urlsplit(self.config.dz_cdn)
            outside = f" {url.scheme + ':' if url.scheme else ''}//{url.netloc}"
        return {
            "Content-Security-Policy": (
                f"default-src 'self'; script-src 'self'{outside}; style-src 'self' 'unsafe-inline'{outside}; "
                "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }

    async def favicon(self, request: Request) -> Response:
        return Response(
            (self.static / "favicon.svg").read_bytes(),
            media_type="image/svg+xml",
            headers={"Cache-Control": "max-age=86400"},
        )

    async def upload(self, request: Request) -> Response:
        if not self.authorised(request):
            return self.denied()
        length = _content_length(request)
        limit = max(self.config.max_size, MAX_CHUNK_BYTES) + FORM_OVERHEAD
        if length is not None and length > limit:
            return _error(TooLarge(f"request body is over {limit} bytes"))
        sink: ChunkSink | CompareSink | WholeSink | None = None
        self.inbox.bump(+1)
        try:
            form = FormStream(request.headers.get("content-type", ""))
            fields: dict[str, str] = {}
            async for body in body_pieces(request, self.config.timeout):
                for event in form.feed(body):
                    if isinstance(event, FileData):
                        assert sink is not None
                        sink.write(event.data)
                    elif isinstance(event, Field):
                        fields[event.name] = event.value
                    elif isinstance(event, FileStart):
                        if sink is not None or event.name != "file":
                            raise BadRequest("send exactly one file, in the field 'file'")
                        if "dzuuid" in fields:
                            sink = self.inbox.begin_chunk(fields, event.filename)
                        else:
                            sink = self.inbox.begin_whole(event.filename, length)
            form.finish()
            if sink is None:
                raise BadRequest("No file provided")
            result = await self.inbox.complete(sink)
            sink = None
            return JSONResponse(result)
        except DropError as err:
            return _error(err)
        except sqlite3.OperationalError as err:
            return _error(_ledger_error(err))
        except TimeoutError:
            return _error(DropError(408, "the client sent nothing for too long"))
        except ClientDisconnect:
            logger.info("client went away mid-request")
            return Response(status_code=400)
        finally:
            if sink is not None:
                sink.abort()
                if isinstance(sink, WholeSink):
                    self.inbox.storage.discard_partial(sink.upload_id)
            self.inbox.bump(-1)

    async def status(self, request: Request) -> Response:
        if not self.authorised(request):
            return self.denied()
        try:
            return JSONResponse(self.inbox.status(parse_upload_id(request.path_params["upload_id"])))
        except DropError as err:
            return _error(err)

    async def download(self, request: Request) -> Response:
        if not self.config.allow_downloads:
            return _error(DropError(404, "downloads are off"))
        try:
            upload, key = self.inbox.download(request.path_params["token"])
        except DropError as err:
            return _error(err)
        return FileResponse(
            self.inbox.storage.path(key),
            filename=upload.name,
            media_type="application/octet-stream",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
        )


def _ledger_error(err: sqlite3.OperationalError) -> DropError:
    if "full" in str(err):
        return NoSpace("the server's disk is full")
    logger.error("ledger error: %s", err)
    return DropError(503, "the server is busy; try again")


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("bad Content-Length")
    return int(raw)


async def body_pieces(request: Request, timeout: float) -> AsyncIterator[bytes]:
    """The request body, piece by piece; TimeoutError when the client stalls for ``timeout`` seconds."""
    stream = request.stream()
    while True:
        with anyio.fail_after(timeout):
            try:
                piece = await stream.__anext__()
            except StopAsyncIteration:
                return
        if piece:
            yield piece


def create_app(config: DropConfig, *, on_activity: ActivityHook | None = None) -> Starlette:
    """Build the drop server's app; storage and ledger open when it starts.

    Parameters
    ----------
    config
        Validated settings.
    on_activity
        Called with the number of uploads in progress whenever it changes (for keep-awake).
    """
    config.validate()
    storage = LocalStorage(config.storage, config.chunks)
    ledger = Ledger(storage.ledger_path)
    inbox = Inbox(config, storage, ledger, on_activity)
    handlers = DropApp(config, inbox)
    tus = Tus(inbox, handlers.authorised, handlers.denied)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        inbox.recover()
        inbox.expire()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep, inbox, config.sweep_interval)
            yield {}
            tasks.cancel_scope.cancel()
        ledger.close()

    app = Starlette(
        routes=[
            Route("/", handlers.index),
            Route("/favicon.ico", handlers.favicon),
            Route("/upload", handlers.upload, methods=["POST"]),
            Route("/upload/{upload_id}", handlers.status),
            Route("/download/{token}", handlers.download),
            *tus.routes(),
            Mount("/static", StaticFiles(packages=[("codecalamity.drop", "static")])),
        ],
        lifespan=lifespan,
    )
    app.state.inbox = inbox
    return app


async def _sweep(inbox: Inbox, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        await anyio.to_thread.run_sync(inbox.expire)
