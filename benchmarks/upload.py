"""Benchmark: uploads over loopback, our drop server through each protocol beside copyparty and pyfiledrop.

    python benchmarks/upload.py [--runs 3] [--big-mib 1024] [--small 200] [--tiny 2000] [--rss-gib 4]
                                [--sets big,small,tiny] [--cases WORD,...] [--no-browser]

Data: one big file (1 GiB), 200 files of 1 MiB and 2,000 files of 64 KiB, in a scratch folder on the same disk as
the servers' storage (``--sets`` picks some of them, ``--cases`` some clients; copyparty + u2c always runs;
``--before DIR`` runs our server, the cluster and our clients from another checkout too, as "before" and
"before-cluster"). For each (server, client):
MB/s (1 MB = 10^6 bytes; median of the runs, each on a fresh server and empty storage; the cases take turns,
one run each per round, so that every one sees the same drift in the machine's load), server CPU seconds and
server peak RSS, and the ratio to copyparty + u2c. Browser clients (our
page in both modes, and copyparty's own web uploader, the fair peer for a page) run in headless Chromium; for them
a second figure is timed inside the page, from choosing the files to the last one stored, as a user with the page
already open sees it. `send --streams 4` (the big file only) sends one file as four tus partial uploads at once,
joined by the server (concatenation). `cp` of the same file on the same disk is the physical bound. Finally our
server's peak RSS with a 4 GiB file, to show it stays flat.

``cluster`` is ``calamity drop cluster``: three nodes on SeaweedFS + PostgreSQL behind haproxy, every part on
this machine's two cores; its RSS column sums every part, and the largest single node's peak is printed apart.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from upload_clients import (
    calamity_send,
    calamity_send_streams,
    copyparty_page,
    dropzone_python,
    env_for,
    page_dropzone,
    page_tus,
    tus_tuspy,
    u2c,
)

HERE = Path(__file__).resolve().parent
PY = sys.executable
MB = 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    url: str
    peak_rss: int = 0
    node_rss: int = 0
    """The cluster: the largest RSS any one drop node reached (the tree's sum includes SeaweedFS, PostgreSQL)."""
    _stop: bool = False

    def sample(self) -> None:
        ps = psutil.Process(self.proc.pid)
        while not self._stop:
            try:
                tree = [ps, *ps.children(recursive=True)]
                self.peak_rss = max(self.peak_rss, sum(p.memory_info().rss for p in tree))
                for p in tree:
                    if "serve" in p.cmdline():
                        self.node_rss = max(self.node_rss, p.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.01)

    def cpu(self) -> float:
        ps = psutil.Process(self.proc.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [ps, *ps.children(recursive=True)])

    def stop(self) -> None:
        self._stop = True
        self.proc.terminate()
        try:
            self.proc.wait(timeout=90)  # the cluster's supervisor stops five kinds of processes first
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(kind: str, root: Path, src: Path | None = None) -> Running:
    port = free_port()
    storage, chunks = root / "storage", root / "chunks"
    storage.mkdir(parents=True)
    chunks.mkdir()
    if kind == "calamity":
        cmd = [
            PY,
            "-m",
            "codecalamity",
            "drop",
            "-p",
            str(port),
            "-s",
            str(storage),
            "-c",
            str(chunks),
            "--reserve",
            "0",
        ]
    elif kind == "cluster":  # three nodes on SeaweedFS + PostgreSQL behind haproxy, all on this machine
        cmd = [PY, "-m", "codecalamity", "drop", "cluster", "--data", str(root / "data"), "--lb-port", str(port)]
        cmd += ["--reserve", "0"]
    elif kind == "copyparty":
        cmd = [PY, "-m", "copyparty", "-i", "127.0.0.1", "-p", str(port), "-v", f"{storage}::rw", "-q"]
    else:
        cmd = [PY, str(HERE / "pyfiledrop.py"), "-p", str(port), "-s", str(storage), "-c", str(chunks)]
    log = open(root / "server.log", "w")  # kept open for the server process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env_for(src))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + ("favicon.ico" if kind != "copyparty" else ""), timeout=1).status_code < 500:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"{kind} did not start: {(root / 'server.log').read_text()[-500:]}")
        time.sleep(0.05)
    running = Running(proc, url)
    threading.Thread(target=running.sample, daemon=True).start()
    return running


NODE_RSS: list[int] = []  # each cluster run's largest node RSS, for the report

# a client returns None, or the seconds its upload took once it was ready (the page: after the page loaded)
Client = Callable[[str, list[Path]], float | None]
CASES: list[tuple[str, str, Client]] = [
    ("calamity", "page, tus mode (chromium)", page_tus),
    ("calamity", "page, dropzone (chromium)", page_dropzone),
    ("calamity", "dropzone chunks (python)", dropzone_python),
    ("calamity", "tus (tuspy)", tus_tuspy),
    ("calamity", "calamity drop send", calamity_send),
    ("calamity", "send --streams 4 (big file)", calamity_send_streams),
    ("cluster", "dropzone chunks (python)", dropzone_python),
    ("cluster", "tus (tuspy)", tus_tuspy),
    ("cluster", "calamity drop send", calamity_send),
    ("copyparty", "u2c", u2c),
    ("copyparty", "its page (chromium)", copyparty_page),
    ("pyfiledrop", "dropzone chunks (python)", dropzone_python),
]


def before_cases(src: Path) -> list[tuple[str, str, Client]]:
    """Our server and clients run from another checkout's ``src`` (``--before``), to show a change in one run."""

    def send(url: str, files: list[Path]) -> None:
        calamity_send(url, files, src)

    return [
        (
            f"{'before' if kind == 'calamity' else 'before-cluster'}:{src}",
            name,
            send if client is calamity_send else client,
        )
        for kind, name, client in CASES
        if kind in ("calamity", "cluster")
    ]


def stored_bytes(kind: str, root: Path) -> int:
    """Bytes of the finished files the server stored (the cluster: objects published in SeaweedFS)."""
    if kind != "cluster":
        return sum(
            p.stat().st_size for p in (root / "storage").rglob("*") if p.is_file() and not p.name.startswith(".")
        )
    from codecalamity.drop import services

    log = (root / "server.log").read_text()
    endpoint = log.split("SeaweedFS S3:")[1].split()[0]
    client: Any = services.s3_client(endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=services.S3_BUCKET, Prefix="drop/")
    listed = [o for page in pages for o in page.get("Contents", [])]  # a page holds at most 1,000 keys
    return sum(int(o["Size"]) for o in listed if not str(o["Key"]).startswith("drop/."))


def measure(kind: str, client: Client, files: list[Path], work: Path) -> tuple[float, float, int, float | None]:
    """MB/s of the whole client run, server CPU seconds, server peak RSS, and MB/s once the client was ready."""
    root = Path(tempfile.mkdtemp(dir=work))
    root.chmod(0o755)  # the cluster's PostgreSQL runs as an unprivileged user, who must enter its folder
    src = Path(kind.partition(":")[2]) if kind.startswith("before") else None
    kind = {"before": "calamity", "before-cluster": "cluster"}.get(kind.partition(":")[0], kind)
    server = start(kind, root, src)
    try:
        total = sum(p.stat().st_size for p in files)
        cpu0 = server.cpu()
        t0 = time.perf_counter()
        ready = client(server.url, files)
        elapsed = time.perf_counter() - t0
        time.sleep(0.05)
        cpu = server.cpu() - cpu0
        stored = stored_bytes(kind, root)
        if kind == "cluster":
            NODE_RSS.append(server.node_rss)
        if stored < total:
            raise RuntimeError(f"{kind}: stored {stored} of {total} bytes")
        return total / MB / elapsed, cpu, server.peak_rss, None if ready is None else total / MB / ready
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_data(work: Path, args: argparse.Namespace) -> list[tuple[str, list[Path]]]:
    """The data sets chosen with ``--sets``, as (label, files); random throughout, so nothing dedups."""
    data = work / "data"
    data.mkdir()
    sets: list[tuple[str, list[Path]]] = []
    chosen = args.sets.split(",")
    if "big" in chosen:
        big = data / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1024 * 1024))
        sets.append((f"1 file of {args.big_mib} MiB", [big]))
    for name, count, size, label in (
        ("small", args.small, 1024 * 1024, "1 MiB"),
        ("tiny", args.tiny, 64 * 1024, "64 KiB"),
    ):
        if name not in chosen or not count:
            continue
        folder = data / name
        folder.mkdir()
        files = []
        for i in range(count):
            p = folder / f"{name[0]}{i:04}.bin"
            p.write_bytes(os.urandom(size))
            files.append(p)
        sets.append((f"{count} files of {label}", files))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--tiny", type=int, default=2000)
    parser.add_argument("--sets", default="big,small,tiny", help="comma-separated: big, small, tiny")
    parser.add_argument("--before", type=Path, help="also run our server and clients from this checkout's src/")
    parser.add_argument("--rss-gib", type=int, default=4)
    parser.add_argument("--work", type=Path, default=HERE.parent / ".bench-work")
    parser.add_argument("--cases", default="", help="comma-separated words: run only the cases whose name has one")
    parser.add_argument("--no-browser", action="store_true", help="skip the clients that run in Chromium")
    args = parser.parse_args()
    if args.before and not (args.before / "src" / "codecalamity").is_dir():
        raise SystemExit(f"--before {args.before}: no src/codecalamity there (give the checkout, not its src)")
    # pip byte-compiles an installed package (copyparty's modules too): so do we for every checkout measured, or
    # each start of a client would compile our modules again where PYTHONDONTWRITEBYTECODE is set
    for src in [HERE.parent / "src", *([args.before / "src"] if args.before else [])]:
        compileall.compile_dir(src, quiet=1)
    args.work.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=args.work))
    work.chmod(0o755)
    try:
        wanted = [w for w in args.cases.split(",") if w]
        everything = CASES + (before_cases(args.before.resolve() / "src") if args.before else [])
        cases = [
            c
            for c in everything
            if (c[0], c[1]) == ("copyparty", "u2c") or not wanted or any(w in f"{c[0]} {c[1]}" for w in wanted)
        ]
        for label, files in make_data(work, args):
            print(f"\n== {label}, median of {args.runs} runs")
            cps = []
            for _ in range(args.runs):
                dst = work / "cp-target"
                t0 = time.perf_counter()
                for p in files:
                    shutil.copyfile(p, dst)
                    os.unlink(dst)
                cps.append(sum(p.stat().st_size for p in files) / MB / (time.perf_counter() - t0))
            results = {}
            failures: dict[tuple[str, str], str] = {}
            chosen = [
                (kind, client_name, client)
                for kind, client_name, client in cases
                if ("(big file)" not in client_name or label.startswith("1 file"))  # plain send below 64 MiB
                and not (args.no_browser and "chromium" in client_name)
            ]
            # every case once per round, round after round: on a shared machine the load drifts, and a peer
            # measured minutes after us would see another machine
            measured: dict[tuple[str, str], list[tuple[float, float, int, float | None]]] = {}
            for _ in range(args.runs):
                for kind, client_name, client in chosen:
                    if (kind, client_name) in failures:
                        continue
                    try:
                        measured.setdefault((kind, client_name), []).append(measure(kind, client, files, work))
                    except Exception as err:  # a failing or stuck client is reported beside the others, not fatal
                        failures[(kind, client_name)] = str(err).splitlines()[0][:100]
            for (kind, client_name), runs in measured.items():
                if (kind, client_name) in failures:
                    continue
                results[(kind, client_name)] = (
                    statistics.median(r[0] for r in runs),
                    statistics.median(r[1] for r in runs),
                    max(r[2] for r in runs),
                    statistics.median(r[3] for r in runs) if all(r[3] is not None for r in runs) else None,
                )
            if ("copyparty", "u2c") not in results:  # the peer every ratio is taken against
                raise SystemExit(f"copyparty + u2c failed: {failures.get(('copyparty', 'u2c'), 'did not run')}")
            base = results[("copyparty", "u2c")]
            print(
                f"{'server':11} {'client':27} {'MB/s':>8} {'x copyparty':>11} {'server CPU s':>12} {'peak RSS MB':>11}"
                "  (page: MB/s once loaded, x copyparty's page)"
            )
            page = results.get(("copyparty", "its page (chromium)"))
            page_base = page[3] if page is not None else None
            for (kind, client_name), (speed, cpu, rss, loaded) in results.items():
                kind = kind.partition(":")[0]  # before:<path> prints as "before"
                tail = "" if loaded is None else f"  {loaded:7.1f}"
                if loaded is not None and page_base:
                    tail += f" {loaded / page_base:5.2f}"
                print(
                    f"{kind:11} {client_name:27} {speed:8.1f} {speed / base[0]:11.2f} {cpu:12.2f} {rss / MB:11.1f}"
                    + tail
                )
            if NODE_RSS:
                print(f"cluster: the largest drop node's peak RSS {max(NODE_RSS) / MB:.1f} MB (sum above: all parts)")
                NODE_RSS.clear()
            for (kind, client_name), why in failures.items():
                kind = kind.partition(":")[0]
                print(f"{kind:11} {client_name:27} failed: {why}")
            print(f"{'cp':11} {'(same disk)':27} {statistics.median(cps):8.1f}")
        if args.rss_gib:
            print("\n== peak RSS as the file grows (calamity drop send)")
            for gib in (1, args.rss_gib):
                path = work / f"rss-{gib}.bin"
                with open(path, "wb") as f:
                    block = os.urandom(64 * 1024 * 1024)
                    for _ in range(gib * 16):
                        f.write(block)
                for kind, client in (("calamity", calamity_send), ("cluster", calamity_send), ("copyparty", u2c)):
                    if args.cases and not any(word in kind for word in args.cases.split(",")) and kind != "copyparty":
                        continue
                    speed, cpu, rss, _ = measure(kind, client, [path], work)
                    node = f", largest node {NODE_RSS.pop() / MB:.1f} MB" if kind == "cluster" else ""
                    print(
                        f"{kind:11} {gib} GiB: {speed:7.1f} MB/s, server CPU {cpu:.2f} s, peak RSS {rss / MB:.1f} MB"
                        + node
                    )
                path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
