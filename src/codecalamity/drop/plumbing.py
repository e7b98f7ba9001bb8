"""Request plumbing that every protocol endpoint shares: reading bodies, errors as replies."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse

from codecalamity.drop.errors import BadRequest, DropError, NoSpace, Unavailable

logger = logging.getLogger(__name__)


def error_response(err: DropError) -> JSONResponse:
    """``err`` as a JSON reply with its HTTP status."""
    headers = {"Retry-After": str(err.retry_after)} if isinstance(err, Unavailable) else None
    return JSONResponse({"error": str(err)}, status_code=err.status, headers=headers)


def ledger_error(err: sqlite3.OperationalError) -> DropError:
    """A ledger failure as the error the client gets: 507 when the disk is full, else 503."""
    if "full" in str(err):
        return NoSpace("the server's disk is full")
    logger.error("ledger error: %s", err)
    return DropError(503, "the server is busy; try again")


def content_length(request: Request) -> int | None:
    """The request's Content-Length, or None; BadRequest when it is not a number."""
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
