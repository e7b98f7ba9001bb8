"""Soak test: `calamity drop` under 64 concurrent clients, cut requests and a server restart (loopback, bounded).

    python benchmarks/soak.py [--clients 64] [--seconds 30] [--ttl 30] [--cut 0.1] [--seed 1]

Each client thread loops until the working time is up, picking a protocol (tus, tus in parallel parts joined
by concatenation, Dropzone chunks, a plain multipart upload), a size (empty, 1 byte, or log-uniform up to
64 MiB) and a name (odd ones included: folders, unicode, reserved words, quotes, 300 characters). A tenth of the
requests that carry a body are cut mid-body (the connection dropped after a random part of it); the client then
resumes as a real one would (tus: HEAD and PATCH from the offset; Dropzone: the chunk again; plain: the whole
file again). Half-way through, the server is killed (SIGKILL) and started again on the same port; clients retry
until it is back. A few uploads are abandoned on purpose, half sent, to be expired by ``--partial-ttl``.

Afterwards it checks, and prints the counts: every upload the server reported stored is byte-identical on disk
(the sha256 of every visible stored file, and a sample downloaded by token), every interrupted upload was
resumed to completion, nothing partial remains once the TTL has passed (no partial file, no unfinished ledger
row), no file was written outside the storage and chunks folders, and the server's RSS stayed flat (sampled
every 0.25 s). Exit status 1 when a check fails. Not part of the test suite (`make bench` runs it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import math
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`calamity drop` in a subprocess on a fixed port, restartable, with its RSS sampled."""

    def __init__(self, root: Path, port: int, ttl: float) -> None:
        self.root, self.port, self.ttl = root, port, ttl
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        self.generation = 0
        self.samples: list[tuple[int, float, int]] = []  # generation, time, rss
        self._stop = False

    def start(self) -> None:
        self.generation += 1
        cmd = [sys.executable, "-m", "codecalamity", "drop", "-p", str(self.port), "-a", "--reserve", "0"]
        cmd += ["-s", str(self.root / "storage"), "-c", str(self.root / "chunks"), "--partial-ttl", f"{self.ttl}s"]
        log = open(self.root / f"server-{self.generation}.log", "wb")  # kept open for the server
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "favicon.ico", timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("the server did not start: " + (self.root / f"server-{self.generation}.log").read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self._stop = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def sample(self) -> None:
        while not self._stop:
            proc = self.proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    self.samples.append((self.generation, time.monotonic(), psutil.Process(proc.pid).memory_info().rss))
            time.sleep(0.25)


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
            fields = {
                "dzuuid": upload_id,
                "dzchunkindex": str(index),
                "dztotalfilesize": str(len(data)),
                "dzchunksize": str(chunk),
                "dztotalchunkcount": str(count),
                "dzchunkbyteoffset": str(index * chunk),
            }
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


# checks --------------------------------------------------------------------------------------------------------


def visible_hashes(storage: Path) -> set[str]:
    out = set()
    for path in storage.iterdir():
        if path.is_file() and not path.name.startswith("."):
            sha = hashlib.sha256()
            with open(path, "rb") as f:
                while block := f.read(4 * MIB):
                    sha.update(block)
            out.add(sha.hexdigest())
    return out


def stray_files(root: Path) -> list[str]:
    """Files anywhere under the soak folder but outside storage/ and chunks/ (server logs excepted)."""
    stray = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("storage", "chunks") or (len(rel.parts) == 1 and rel.name.startswith("server-")):
            if rel.parts[0] == "storage" and len(rel.parts) > 1 and path.is_dir() and rel.parts[1] != ".incoming":
                stray.append(str(rel))
            continue
        stray.append(str(rel))
    return stray


def unfinished_rows(storage: Path) -> int:
    with contextlib.closing(sqlite3.connect(storage / ".calamity-drop.sqlite3")) as db:
        (n,) = db.execute("SELECT COUNT(*) FROM uploads WHERE state != 'done'").fetchone()
    return int(n)


def rss_report(samples: list[tuple[int, float, int]]) -> tuple[list[str], bool]:
    """Per server process: RSS medians of its 2nd and last quarter and its peak; flat when the longest-lived one's
    last quarter is within 25 % (+16 MiB) of its 2nd (the first server only ramps up before it is killed)."""
    lines, flat = [], True
    generations = sorted({g for g, _, _ in samples})
    longest = max(generations, key=lambda g: sum(1 for s in samples if s[0] == g), default=0)
    for generation in generations:
        rss = [r / MIB for g, _, r in samples if g == generation]
        quarter = max(1, len(rss) // 4)
        early, late = statistics.median(rss[quarter : 2 * quarter] or rss), statistics.median(rss[3 * quarter :] or rss)
        verdict = ""
        if generation == longest:
            flat = late <= 1.25 * early + 16
            verdict = " -> " + ("flat" if flat else "GROWING")
        lines.append(
            f"  server {generation}: {len(rss) / 4:.0f} s, 2nd-quarter median {early:.0f} MiB, last-quarter median "
            f"{late:.0f} MiB, peak {max(rss):.0f} MiB{verdict}"
        )
    return lines, flat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0, help="time for starting new uploads")
    parser.add_argument(
        "--ttl", type=float, default=30.0, help="the server's --partial-ttl, seconds (longer than a restart)"
    )
    parser.add_argument("--cut", type=float, default=0.1, help="share of body-carrying requests cut mid-body")
    parser.add_argument("--max-mib", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protocols", default="tus,tus-parallel,dropzone,plain")
    parser.add_argument("--work", type=Path, default=HERE.parent / ".bench-work")
    args = parser.parse_args()
    args.protocols = args.protocols.split(",")
    args.work.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=args.work, prefix="soak-"))
    began = time.monotonic()
    pool = memoryview(random.Random(args.seed).randbytes(POOL_BYTES))
    server = Server(root, free_port(), args.ttl)
    stats = Stats()
    stats.counts.update({"interrupted uploads NOT completed": 0, "interrupted uploads resumed to completion": 0})
    down = 0.0
    try:
        server.start()
        threading.Thread(target=server.sample, daemon=True).start()
        deadline = time.monotonic() + args.seconds
        clients = [Client(n, server, pool, stats, args) for n in range(args.clients)]
        threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
        for t in threads:
            t.start()
        time.sleep(args.seconds / 2)
        down = time.monotonic()
        server.kill()
        stats.add("server restarts (SIGKILL mid-run)")
        server.start()
        down = time.monotonic() - down
        for t in threads:
            t.join()
        worked = time.monotonic() - began
        # nothing partial remains once the TTL passes: the sweep removes the abandoned uploads
        expire_deadline = time.monotonic() + args.ttl * 2 + 30
        while time.monotonic() < expire_deadline:
            left = [p for p in (root / "chunks").iterdir()]
            if not left and unfinished_rows(root / "storage") == 0:
                break
            time.sleep(0.25)
        partial_files = len(list((root / "chunks").iterdir()))
        partial_rows = unfinished_rows(root / "storage")
        on_disk = visible_hashes(root / "storage")
        missing = [(p, sha) for p, sha, _ in stats.stored if sha not in on_disk]
        sample = random.Random(args.seed).sample(stats.stored, min(200, len(stats.stored)))
        bad_downloads = 0
        with httpx.Client(timeout=120) as http:
            for _, sha, token in sample:
                got = hashlib.sha256(http.get(server.url + f"download/{token}").content).hexdigest()
                bad_downloads += got != sha
        stray = stray_files(root)
    finally:
        server.stop()
    rss_lines, flat = rss_report(server.samples)
    print(f"soak: {args.clients} clients, {args.seconds:.0f} s of new uploads, {worked:.0f} s until all finished")
    for key, value in sorted(stats.counts.items()):
        print(f"  {key:52} {value:7}")
    print(f"  {'uploads reported stored':52} {len(stats.stored):7}  ({stats.stored_bytes / 1e9:.2f} GB)")
    print(f"  {'  of which byte-identical on disk (sha256)':52} {len(stats.stored) - len(missing):7}")
    print(f"  {'  sampled downloads by token, wrong bytes':52} {bad_downloads:7} of {len(sample)}")
    print(f"  {'visible files in storage':52} {len(on_disk):7}  (distinct contents)")
    print(f"  {'partial files left after the TTL':52} {partial_files:7}")
    print(f"  {'unfinished ledger rows left after the TTL':52} {partial_rows:7}")
    print(f"  {'files outside storage':52} {len(stray):7}")
    print(f"  {'client-side failures (not retryable)':52} {len(stats.problems):7}")
    for line in stats.problems[:20]:
        print("    " + line.replace("\n", " ")[:300])
    print(f"  {'server down for the restart (s)':52} {down:7.1f}")
    print("server RSS (sampled every 0.25 s):")
    print("\n".join(rss_lines))
    failed = missing or bad_downloads or partial_files or partial_rows or stray or stats.problems or not flat
    print("soak: " + ("FAILED" if failed else "passed") + f" in {time.monotonic() - began:.0f} s")
    if not failed:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"  (kept {root} for a look; server logs there)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
