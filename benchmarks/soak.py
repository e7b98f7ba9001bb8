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

The simulated users are in ``soak_client.py``; the server process and the checks after the run in
``soak_server.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from soak_client import POOL_BYTES, Client, Stats
from soak_server import Server, free_port, rss_report, stray_files, unfinished_rows, visible_hashes

HERE = Path(__file__).resolve().parent


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
