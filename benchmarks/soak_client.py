"""The soak test's simulated users: each uploads by a random protocol, size and name until the time is up, cuts
a tenth of its request bodies mid-way and resumes what was cut or refused, as a real client would."""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from upload_clients import dropzone_fields

if TYPE_CHECKING:
    from soak_server import Server

MIB = 1024 * 1024
POOL_BYTES = 80 * MIB
TUS = {"Tus-Resumable": "1.0.0"}
NAMES = [
    "a.bin",
    "ñandú ü.txt",
    "日本語のファイル.bin",
    "with  spaces .txt",
    "../../escape.txt",
    "..",
    ".hidden",
    "CON",
    "nul.txt",
    "x" * 300 + ".bin",
    "semi;colon,comma'quote.bin",
    "emoji 🎉.png",
    "back\\slash\\..\\up.bin",
    "%2e%2e%2fpercent",
    "<script>alert(1)</script>.html",
    "report.pdf",
    "",
]
TUS_ONLY_NAMES = ["new\nline.txt", "tab\there.bin", "nul\x00byte.bin"]


def _meta(name: str) -> str:
    """tus Upload-Metadata for a file name (the key alone for an empty one, as tus-js-client sends it)."""
    return ("filename " + base64.b64encode(name.encode()).decode()) if name else "filename"


class Cut(Exception):
    """Raised inside a request body to drop the connection mid-body."""


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)
    stored: list[tuple[str, str, str]] = field(default_factory=list)  # protocol, sha256, token
    problems: list[str] = field(default_factory=list)
    stored_bytes: int = 0

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


class Client:
    """One simulated user: uploads until the time is up, resuming whatever is cut or refused."""

    def __init__(self, n: int, server: Server, pool: memoryview, stats: Stats, args: argparse.Namespace) -> None:
        self.rng = random.Random(args.seed * 1000 + n)
        self.number = n
        self.server, self.pool, self.stats, self.args = server, pool, stats, args
        self.http = httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0))
        self.interrupted = False

    # requests ----------------------------------------------------------------------------------------------

    def body(self, data: memoryview) -> Iterator[bytes]:
        """The request body in 256 KiB pieces, cut after a random part of it for --cut of the requests."""
        cut_at = len(data) + 1  # no cut
        if len(data) >= 2:
            self.stats.add("requests with a body of 2 bytes or more")
        if len(data) >= 2 and self.rng.random() < self.args.cut:
            cut_at = self.rng.randrange(1, len(data))
            self.stats.add("requests cut mid-body")
        step = 256 * 1024
        end = min(len(data), cut_at)
        for pos in range(0, end, step):
            yield bytes(data[pos : min(pos + step, end)])
        if cut_at <= len(data):
            raise Cut()

    def retrying(self, what: str, call: Callable[[], httpx.Response], ok: tuple[int, ...]) -> httpx.Response:
        """Send until the reply is one of ``ok``; transport errors, cuts, 5xx, 408 and 409 are retried."""
        for attempt in range(400):
            self.stats.add("requests")
            try:
                response = call()
            except (httpx.TransportError, Cut) as err:
                self.interrupted = True
                self.stats.add("retries after a cut" if isinstance(err, Cut) else "retries after a dropped connection")
                time.sleep(min(0.05 * (attempt + 1), 0.5))
                continue
            if response.status_code in ok:
                return response
            if response.status_code >= 500 or response.status_code in (408, 409, 423, 460):
                self.interrupted = True
                self.stats.add(f"retries after HTTP {response.status_code}")
                time.sleep(min(0.05 * (attempt + 1), 0.5))
                continue
            raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:200]}")
        raise RuntimeError(f"{what}: gave up")

    # protocols ---------------------------------------------------------------------------------------------

    def plain(self, name: str, data: memoryview) -> dict[str, str]:
        response = self.retrying(
            "plain upload",
            lambda: self.http.post(
                self.server.url + "upload",
                content=self.multipart({}, name, data),
                headers={"Content-Type": "multipart/form-data; boundary=soakboundary"},
            ),
            (200,),
        )
        return dict(response.json())

    def multipart(self, fields: dict[str, str], name: str, data: memoryview) -> Iterator[bytes]:
        head = b"".join(
            b'--soakboundary\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v.encode())
            for k, v in fields.items()
        )
        quoted = name.replace('"', "%22").encode()
        head += b'--soakboundary\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n' % quoted
        head += b"Content-Type: application/octet-stream\r\n\r\n"
        yield head
        yield from self.body(data)
        yield b"\r\n--soakboundary--\r\n"

    def dropzone(self, name: str, data: memoryview, abandon: bool) -> dict[str, str] | None:
        chunk = self.rng.choice([256 * 1024, 1_000_000, 5 * MIB])
        count = max(1, math.ceil(len(data) / chunk))
        upload_id = str(uuid.uuid4())
        order = list(range(count))
        self.rng.shuffle(order)
        if abandon:
            order = order[: count // 2]
        result: dict[str, str] = {}
        for index in order:
            fields = dropzone_fields(upload_id, index, len(data), chunk)
            piece = data[index * chunk : (index + 1) * chunk]
            response = self.retrying(
                f"dropzone chunk {index}",
                lambda f=fields, p=piece: self.http.post(  # type: ignore[misc]
                    self.server.url + "upload",
                    content=self.multipart(f, name, p),
                    headers={"Content-Type": "multipart/form-data; boundary=soakboundary"},
                ),
                (200,),
            )
            result = dict(response.json())
        return None if abandon else result

    def tus(self, name: str, data: memoryview, abandon: bool, concat: str | None = None) -> dict[str, str] | None:
        """A tus upload; 30 % with a deferred length (given with the last PATCH), PATCHes of random size."""
        headers = {**TUS, "Upload-Metadata": _meta(name)}
        if concat is not None:
            headers["Upload-Concat"] = concat
        known = self.rng.random() >= 0.3
        if known:
            headers["Upload-Length"] = str(len(data))
        else:
            headers["Upload-Defer-Length"] = "1"
            self.stats.add("tus uploads with a deferred length")
        created = self.retrying(
            "tus creation", lambda: self.http.post(self.server.url + "files/", headers=headers), (201,)
        )
        url = self.server.url.rstrip("/") + created.headers["location"]
        offset, last = 0, created
        target = len(data) // 2 if abandon else len(data)
        while offset < target or not (known or abandon):
            step = min(len(data) - offset, self.rng.choice([len(data), 4 * MIB, 16 * MIB]))
            patch = {
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(step),
            }
            if not known and offset + step == len(data):
                patch["Upload-Length"] = str(len(data))
            self.stats.add("requests")
            try:
                last = self.http.patch(url, content=self.body(data[offset : offset + step]), headers=patch)
                if last.status_code == 204:
                    offset = int(last.headers["upload-offset"])
                    known = known or "Upload-Length" in patch
                    continue
                if last.status_code < 500 and last.status_code not in (408, 409, 460):
                    raise RuntimeError(f"tus PATCH: HTTP {last.status_code} {last.text[:200]}")
            except (httpx.TransportError, Cut):
                pass
            self.interrupted = True
            self.stats.add("tus resumes (HEAD, then PATCH from the offset)")
            time.sleep(0.05)
            last = self.retrying("tus HEAD", lambda: self.http.head(url, headers=TUS), (200,))
            offset = int(last.headers["upload-offset"])
            known = "upload-length" in last.headers
        if abandon:
            return None
        if concat == "partial":
            return {"url": url}
        if "upload-sha256" not in last.headers:
            last = self.retrying("tus HEAD", lambda: self.http.head(url, headers=TUS), (200,))
        return {"sha256": last.headers.get("upload-sha256", ""), "token": last.headers.get("upload-token", "")}

    def tus_parallel(self, name: str, data: memoryview) -> dict[str, str] | None:
        """Up to 4 partial uploads, then a final one joining them (what tus-js-client does for parallelUploads)."""
        parts = self.rng.randint(1, 4)
        bounds = [len(data) * i // parts for i in range(parts + 1)]
        ranges = list(zip(bounds, bounds[1:], strict=False))
        sub = [Client(self.number * 100 + i, self.server, self.pool, self.stats, self.args) for i in range(parts)]
        with ThreadPoolExecutor(parts) as pool:  # the parts at once, as tus-js-client sends them
            done = list(
                pool.map(lambda i: sub[i].tus(name, data[ranges[i][0] : ranges[i][1]], False, "partial"), range(parts))
            )
        for client in sub:
            self.interrupted |= client.interrupted
            client.http.close()
        urls = [httpx.URL(d["url"]).path for d in done if d is not None]
        meta = _meta(name)
        final = self.retrying(
            "tus final",
            lambda: self.http.post(
                self.server.url + "files/",
                headers={**TUS, "Upload-Concat": "final;" + " ".join(urls), "Upload-Metadata": meta},
            ),
            (201,),
        )
        return {"sha256": final.headers.get("upload-sha256", ""), "token": final.headers.get("upload-token", "")}

    # the loop ----------------------------------------------------------------------------------------------

    def size(self) -> int:
        roll = self.rng.random()
        if roll < 0.05:
            return 0
        if roll < 0.08:
            return 1
        return int(math.exp(self.rng.uniform(0, math.log(self.args.max_mib * MIB))))

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            protocol = self.rng.choice(self.args.protocols)
            size = self.size()
            start = self.rng.randrange(POOL_BYTES - size + 1)
            data = self.pool[start : start + size]
            name = self.rng.choice(NAMES + (TUS_ONLY_NAMES if protocol.startswith("tus") else []))
            abandon = protocol != "plain" and protocol != "tus-parallel" and self.rng.random() < 0.03 and size > 1
            result: dict[str, str] | None
            self.interrupted = False
            try:
                if protocol == "plain":
                    result = self.plain(name, data)
                elif protocol == "dropzone":
                    result = self.dropzone(name, data, abandon)
                elif protocol == "tus":
                    result = self.tus(name, data, abandon)
                else:
                    result = self.tus_parallel(name, data)
            except RuntimeError as err:
                self.stats.problem(f"{protocol} {size} bytes {name!r}: {err}")
                if self.interrupted:
                    self.stats.add("interrupted uploads NOT completed")
                continue
            if abandon:
                self.stats.add("abandoned on purpose, half sent")
                continue
            if result is None:
                continue
            expected = hashlib.sha256(data).hexdigest()
            self.stats.add(f"stored: {protocol}")
            if self.interrupted:
                self.stats.add("interrupted uploads resumed to completion")
            if result.get("sha256") != expected:
                self.stats.problem(f"{protocol} {size} bytes: the server reported sha256 {result.get('sha256')}")
                continue
            with self.stats.lock:
                self.stats.stored.append((protocol, expected, str(result.get("token"))))
                self.stats.stored_bytes += size
        self.http.close()
