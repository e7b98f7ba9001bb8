"""The drop server's ASGI app: the page and downloads here, the protocols' endpoints wired in."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from codecalamity.drop.auth import PasswordGate
from codecalamity.drop.config import DropConfig
from codecalamity.drop.downloads import ranged_stream
from codecalamity.drop.dropzone import Dropzone
from codecalamity.drop.errors import DropError
from codecalamity.drop.inbox import Inbox
from codecalamity.drop.ledger import open_ledger
from codecalamity.drop.page import render_page
from codecalamity.drop.plumbing import error_response
from codecalamity.drop.storage import Storage
from codecalamity.drop.storage.local import LEDGER_NAME, LocalStorage
from codecalamity.drop.tus import Tus

logger = logging.getLogger(__name__)

ActivityHook = Callable[[int], None]
# Seconds an upload may be finishing before a sweeper assumes its finisher died (and it is unclaimed).
RECOVER_GRACE = 60.0


class DropApp:
    """Request handlers around one :class:`Inbox`; ``create_app`` wires them into Starlette."""

    def __init__(self, config: DropConfig, inbox: Inbox) -> None:
        self.config = config
        self.inbox = inbox
        self.page = render_page(config)
        self.static = resources.files("codecalamity.drop") / "static"
        self.gate = PasswordGate(config.password)

    async def index(self, request: Request) -> Response:
        if not self.gate.authorised(request):
            return self.gate.denied(request)
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

    async def download(self, request: Request) -> Response:
        if not self.config.allow_downloads:
            return error_response(DropError(404, "downloads are off"))
        try:
            upload, key = self.inbox.download(request.path_params["token"])
        except DropError as err:
            return error_response(err)
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
        if isinstance(self.inbox.storage, LocalStorage):
            return FileResponse(
                self.inbox.storage.path(key),
                filename=upload.name,
                media_type="application/octet-stream",
                headers=headers,
            )
        return ranged_stream(request, self.inbox.storage, key, upload.size, upload.name, headers)


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
    storage: Storage
    if config.object_store is None:
        storage = local = LocalStorage(config.storage, config.chunks)
        ledger = open_ledger(config.ledger, local.ledger_path)
    else:
        from codecalamity.drop.storage.s3 import S3Storage

        config.chunks.mkdir(parents=True, exist_ok=True)
        ledger = open_ledger(config.ledger, config.chunks / LEDGER_NAME)
        storage = S3Storage(config.object_store, ledger, config.s3_endpoint, config.max_size)
    inbox = Inbox(config, storage, ledger, on_activity)
    handlers = DropApp(config, inbox)
    tus = Tus(inbox, handlers.gate)
    dropzone = Dropzone(config, inbox, handlers.gate)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        inbox.recover()
        inbox.expire()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep, inbox, config.sweep_every)
            yield {}
            tasks.cancel_scope.cancel()
        storage.close()
        ledger.close()

    app = Starlette(
        routes=[
            Route("/", handlers.index),
            Route("/favicon.ico", handlers.favicon),
            Route("/upload", dropzone.upload, methods=["POST"]),
            Route("/upload/{upload_id}", dropzone.status),
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
        await anyio.to_thread.run_sync(inbox.recover, RECOVER_GRACE)
        await anyio.to_thread.run_sync(inbox.expire)
