"""Downloads streamed from storage that has no local file (object storage), with single-range requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from codecalamity.drop.storage import Storage

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, stop)`` of a single ``Range: bytes=...`` request, None for the whole file.

    Raises
    ------
    ValueError
        The range cannot be satisfied (the reply is 416).
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None  # absent, multiple ranges or another unit: the whole file, as RFC 9110 allows
    first, last = match.groups()
    if first == "":
        start, stop = max(0, size - int(last)), size
    else:
        start, stop = int(first), min(size, int(last) + 1) if last else size
    if start >= stop:
        raise ValueError(f"range {header!r} is outside 0-{size}")
    return start, stop


def ranged_stream(
    request: Request, storage: Storage, key: str, size: int, filename: str, headers: dict[str, str]
) -> Response:
    """The stored file ``key`` (``size`` bytes) as a download, honouring one byte range."""
    quoted = quote(filename)  # the same header as starlette's FileResponse gives local files
    disposition = (
        f"attachment; filename*=utf-8''{quoted}" if quoted != filename else f'attachment; filename="{filename}"'
    )
    base = {**headers, "Accept-Ranges": "bytes", "Content-Disposition": disposition}
    try:
        wanted = byte_range(request.headers.get("range"), size)
    except ValueError:
        return Response(status_code=416, headers={**base, "Content-Range": f"bytes */{size}"})
    start, stop = wanted if wanted is not None else (0, size)
    body: Iterator[bytes] = storage.read(key, start, stop)
    out = {**base, "Content-Length": str(stop - start)}
    if wanted is None:
        return StreamingResponse(body, media_type="application/octet-stream", headers=out)
    out["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return StreamingResponse(body, status_code=206, media_type="application/octet-stream", headers=out)
