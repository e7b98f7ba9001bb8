"""``calamity drop send``: upload files to a drop server over tus, in parallel, resuming where a previous run
stopped, and checking the server's sha256 against our own.

Each file is one tus upload. Small files go in a single request (creation-with-upload); larger ones are
created first, so that their upload URL is remembered before any byte is sent, then streamed in one PATCH.
On an error the client asks the server how far it got (HEAD) and goes on from there.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from codecalamity._errors import CalamityError
from codecalamity.drop.wire import Reply, TransportError, Wire

BLOCK = 1024 * 1024
SMALL = 8 * 1024 * 1024
# Files up to this size are sent in the creating request itself.
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
RETRIES = 5
PARTS = "parts"
# How a file sent over several streams is remembered for resuming: "parts <url> <url> ..."
PARTS_MIN = 64 * 1024 * 1024
# Files smaller than this go over one stream even with --streams: a part's request costs more than it saves.
FINISH_READ = 300.0
# Seconds to wait for the reply to the request that completes a file: the server checks and stores the file
# before it answers (a big file on a busy object store takes a while).
FINISH_WAIT = 1800.0
# Seconds to keep asking a server that has every byte of a file until it reports the file stored.


class SendError(CalamityError):
    """A file could not be sent."""


@dataclasses.dataclass
class Sent:
    """The outcome for one file."""

    path: Path
    ok: bool
    sha256: str = ""
    resumed_at: int = 0
    download: str = ""
    error: str = ""


class ResumeState:
    """Upload URLs of unfinished sends, keyed by file identity and server, in a small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @staticmethod
    def default_path() -> Path:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "codecalamity" / "send.json"

    @staticmethod
    def key(path: Path, server: str) -> str:
        st = path.stat()
        return f"{server}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, url: str | None) -> None:
        with self._lock:
            data = self._load()
            if url is None:
                data.pop(key, None)
            else:
                data[key] = url
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self.path)


class RateLimit:
    """A token bucket shared by every file (``--limit-rate``)."""

    def __init__(self, bytes_per_second: float | None) -> None:
        self.rate = bytes_per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now) + n / self.rate
            wait = self._next - now - n / self.rate
        if wait > 0:
            time.sleep(wait)


def _metadata(path: Path) -> str:
    return "filename " + base64.b64encode(path.name.encode()).decode()


def _blocks(
    path: Path, offset: int, sha: Any, progress: Callable[[int], None], limit: RateLimit, end: int | None = None
) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(offset)
        while block := f.read(BLOCK if end is None else min(BLOCK, end - f.tell())):
            limit.take(len(block))
            if sha is not None:
                sha.update(block)
            yield block
            progress(len(block))


def _file_sha256(path: Path, upto: int) -> Any:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = upto
        while remaining > 0 and (block := f.read(min(BLOCK, remaining))):
            sha.update(block)
            remaining -= len(block)
    return sha


class Sender:
    """Sends files to one server.

    Parameters
    ----------
    server
        The drop server's base URL (``http://host:port/``).
    password
        Sent with HTTP Basic auth when the server asks for one.
    state
        Where unfinished uploads are remembered.
    limit
        Optional bandwidth limit, bytes per second, for all files together.
    streams
        Connections for one big file (tus concatenation: parts sent at once, joined by the server).
    """

    def __init__(
        self, server: str, password: str | None, state: ResumeState, limit: float | None = None, streams: int = 1
    ) -> None:
        self.server = server.rstrip("/") + "/"
        self.streams = streams
        self.files_url = self.server + "files/"
        self.state = state
        self.limit = RateLimit(limit)
        self.wire = Wire(self.server, password, timeout=60.0)
        self._finish_timeout = FINISH_READ

    def close(self) -> None:
        self.wire.close()

    def send(self, path: Path, progress: Callable[[int], None]) -> Sent:
        """Upload one file (resuming if it was started before); never raises for a per-file failure."""
        try:
            return self._send(path, progress)
        except (*TransportError, SendError) as err:
            return Sent(path, False, error=str(err) or type(err).__name__)

    def _send(self, path: Path, progress: Callable[[int], None]) -> Sent:
        size = path.stat().st_size
        key = ResumeState.key(path, self.server)
        url = self.state.get(key)
        if self.streams > 1 and size >= PARTS_MIN or url is not None and url.startswith(PARTS):
            return self._send_parts(path, size, key, progress)
        offset = self._offset(url) if url else None
        if url is None or offset is None:
            if size <= SMALL:
                return self._send_small(path, size, progress)
            url, offset = self._create(path, size), 0
            self.state.put(key, url)
        resumed_at = offset
        progress(offset)
        for attempt in range(RETRIES + 1):
            sha = _file_sha256(path, offset) if attempt == 0 else None
            try:
                response = self._patch(url, path, offset, size, sha, progress)
                break
            except (*TransportError, SendError) as err:
                offset = self._after_failure(url, offset, attempt, err, progress, "this upload")
        self.state.put(key, None)
        local = (sha if sha is not None else _file_sha256(path, size)).hexdigest()
        return self._verified(path, response, local, resumed_at)

    def _after_failure(
        self, url: str, offset: int, attempt: int, err: Exception, progress: Callable[[int], None], what: str
    ) -> int:
        """After a failed PATCH: give up after the last retry, else wait, ask the server where it got to."""
        if attempt == RETRIES:
            raise SendError(f"gave up after {RETRIES} retries: {err}") from err
        time.sleep(min(8.0, 0.5 * 2**attempt))
        new_offset = self._offset(url)
        if new_offset is None:
            raise SendError(f"the server forgot {what}") from err
        progress(new_offset - offset)  # may be negative: bytes the server did not keep
        return new_offset

    def _send_parts(self, path: Path, size: int, key: str, progress: Callable[[int], None]) -> Sent:
        """One file as ``streams`` partial uploads sent at once, then a final upload that joins them."""
        saved = self.state.get(key)
        urls = saved.split()[1:] if saved is not None and saved.startswith(PARTS) else []
        count = len(urls) or self.streams
        bounds = [size * i // count for i in range(count + 1)]
        ranges = list(zip(bounds, bounds[1:], strict=False))
        if not urls:
            urls = [self._create(path, end - start, partial=True) for start, end in ranges]
            self.state.put(key, " ".join([PARTS, *urls]))
        offsets = [self._offset(url) for url in urls]
        if None in offsets:  # the server forgot a part (expired): start again
            self.state.put(key, None)
            return self._send_parts(path, size, key, progress)
        resumed_at = sum(o or 0 for o in offsets)
        progress(resumed_at)
        with ThreadPoolExecutor(len(urls) + 1) as pool:
            whole = pool.submit(_file_sha256, path, size)  # beside the uploads: parts' hashes do not combine
            sent = [
                pool.submit(self._send_range, url, path, start, end - start, offset or 0, progress)
                for url, (start, end), offset in zip(urls, ranges, offsets, strict=True)
            ]
            for future in sent:
                future.result()
            local = whole.result().hexdigest()
        response = self.wire.request(
            "POST",
            self.files_url,
            headers={
                **TUS,
                "Upload-Concat": "final;" + " ".join(urlsplit(url).path for url in urls),
                "Upload-Metadata": _metadata(path),
            },
            timeout=self._finish_timeout,
        )
        self._check(response, 201)
        self.state.put(key, None)
        return self._verified(path, response, local, resumed_at)

    def _send_range(
        self, url: str, path: Path, start: int, size: int, offset: int, progress: Callable[[int], None]
    ) -> None:
        """Send bytes ``start + offset`` to ``start + size`` of the file into one partial upload, resuming."""
        for attempt in range(RETRIES + 1):
            try:
                self._patch(url, path, offset, size, None, progress, start=start, whole=False)
                return
            except (*TransportError, SendError) as err:
                offset = self._after_failure(url, offset, attempt, err, progress, "a part of this upload")

    def _send_small(self, path: Path, size: int, progress: Callable[[int], None]) -> Sent:
        data = path.read_bytes()
        self.limit.take(len(data))
        response = self.wire.request(
            "POST",
            self.files_url,
            body=data,
            headers={
                **TUS,
                "Upload-Length": str(size),
                "Upload-Metadata": _metadata(path),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        self._check(response, 201)
        progress(size)
        return self._verified(path, response, hashlib.sha256(data).hexdigest(), 0)

    def _verified(self, path: Path, response: Reply, local: str, resumed_at: int) -> Sent:
        remote = response.headers.get("upload-sha256", "")
        if not remote:
            raise SendError(f"the server did not report the file stored (HTTP {response.status_code})")
        if remote != local:
            raise SendError(f"sha256 mismatch: sent {local}, the server stored {remote}")
        download = response.headers.get("upload-download", "")
        return Sent(path, True, local, resumed_at, self.server.rstrip("/") + download if download else "")

    def _create(self, path: Path, size: int, partial: bool = False) -> str:
        headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": _metadata(path)}
        if partial:
            headers["Upload-Concat"] = "partial"
        response = self.wire.request("POST", self.files_url, headers=headers)
        self._check(response, 201)
        return self.wire.url(response.headers["location"])

    def _offset(self, url: str) -> int | None:
        response = self.wire.request("HEAD", url, headers=TUS)
        if response.status_code in (404, 410):
            return None
        self._check(response, 200)
        return int(response.headers["upload-offset"])

    def _patch(
        self,
        url: str,
        path: Path,
        offset: int,
        size: int,
        sha: Any,
        progress: Callable[[int], None],
        start: int = 0,
        whole: bool = True,
    ) -> Reply:
        """PATCH bytes ``start + offset`` to ``start + size`` of the file; ``whole``: the upload is the file, and
        the reply says it is stored (a part of a file sent over several streams is joined later)."""
        if offset == size:
            return self._stored(url) if whole else self.wire.request("HEAD", url, headers=TUS)
        response = self.wire.request(
            "PATCH",
            url,
            body=_blocks(path, start + offset, sha, progress, self.limit, start + size),
            headers={
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(size - offset),
            },
            timeout=self._finish_timeout,
        )
        if response.status_code >= 500 or response.status_code in (408, 409):
            raise SendError(f"server said {response.status_code}: {response.text.strip()}")
        self._check(response, 204)
        return response

    def _stored(self, url: str) -> Reply:
        """Every byte of the upload is on the server: wait until it reports the file stored.

        The reply to the last PATCH may have been lost or come too late, the server may still be checking and
        storing the file (409), or have failed to for now (503: a service it needs is down; asked again after
        its Retry-After). An empty PATCH at the end makes a server that is not finishing the upload finish it.
        """
        deadline = time.monotonic() + FINISH_WAIT
        while True:
            head = self.wire.request("HEAD", url, headers=TUS)
            self._check(head, 200)
            if head.headers.get("upload-sha256"):
                return head
            try:
                response = self.wire.request(
                    "PATCH",
                    url,
                    body=b"",
                    headers={**TUS, "Upload-Offset": head.headers["upload-offset"], "Content-Type": OFFSET_STREAM},
                    timeout=self._finish_timeout,
                )
            except TimeoutError as err:  # still finishing (this request too): ask again
                response = Reply(409, Message(), f"no reply ({type(err).__name__})")
            if response.status_code == 204 and response.headers.get("upload-sha256"):
                return response
            said = f"{response.status_code} {response.text.strip()[:200]}"
            if response.status_code == 503:
                wait = float(response.headers.get("retry-after", "2") or 2)
            elif response.status_code == 409:  # finishing in another request
                wait = 1.0
            else:
                raise SendError(f"the server has every byte but could not store the file: it said {said}")
            if time.monotonic() + wait > deadline:
                raise SendError(
                    f"the server has every byte but did not store the file within {FINISH_WAIT:.0f} s (last: {said})"
                )
            time.sleep(wait)

    @staticmethod
    def _check(response: Reply, expected: int) -> None:
        if response.status_code == 401:
            raise SendError("the server wants a password (--password)")
        if response.status_code != expected:
            raise SendError(f"server said {response.status_code}: {response.text.strip()[:200]}")


def send_all(sender: Sender, paths: list[Path], workers: int, on_progress: Callable[[Path, int], None]) -> list[Sent]:
    """Send ``paths`` with ``workers`` files in flight; results in input order."""

    def one(path: Path) -> Sent:
        return sender.send(path, lambda n: on_progress(path, n))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, paths))
