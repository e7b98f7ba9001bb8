"""Benchmark: what SeaweedFS's ``weed server -s3`` costs per MiB written, under each set of flags.

    python benchmarks/seaweed_cost.py [--runs 3] [--files 200] [--multipart-mib 64] [--threads 4]
                                      [--variants NAME,...] [--content random|zeros]

For each variant (flags and environment given to ``weed server``, see ``VARIANTS``), a fresh SeaweedFS started
as ``codecalamity.drop.services`` starts it, then through boto3 configured as the drop nodes configure it:
``--files`` PutObjects of 1 MiB with ``If-None-Match: *`` (as a small file is published), and one multipart
upload of ``--multipart-mib`` MiB in 8 MiB parts (as a big file arrives). Printed: the weed process's CPU
milliseconds per MiB written (user + system, from psutil) and the wall-clock MB/s of each, medians over the runs;
the variants take turns, one run each per round, so that each sees the same drift in the machine's load.
The first variant is the baseline the others are compared with.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from codecalamity.drop import services

MIB = 1024 * 1024
PART = 8 * MIB

# extra flags, extra environment, and whether chunks are fsynced (``durable``: the default, since the single node
# too reports a file stored only once it is on disk)
Variant = tuple[list[str], dict[str, str], bool]
VARIANTS: dict[str, Variant] = {
    "default": ([], {}, True),
    "GOGC=400": ([], {"GOGC": "400"}, True),
    "GOMAXPROCS=1": ([], {"GOMAXPROCS": "1"}, True),
    "GOGC=off+GOMEMLIMIT=1GiB": ([], {"GOGC": "off", "GOMEMLIMIT": "1GiB"}, True),
    "GOGC=800": ([], {"GOGC": "800"}, True),
    "no fsync": ([], {}, False),
    "filer.maxMB=64": (["-filer.maxMB=64"], {}, True),
    "volume.index=leveldb": (["-volume.index=leveldb"], {}, True),
    "volumePreallocate": (["-master.volumePreallocate"], {}, True),
    "volumeSizeLimitMB=1024": (["-master.volumeSizeLimitMB=1024"], {}, True),
}


def client(endpoint: str) -> Any:
    """A boto3 client set as the drop nodes set theirs (unsigned payloads, checksums only when required)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=services.S3_KEYS[0],
        aws_secret_access_key=services.S3_KEYS[1],
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            max_pool_connections=32,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def payload(size: int, content: str) -> bytes:
    if content == "random":
        return os.urandom(size)
    if content == "text":  # a log or CSV: compressible, detected as text/plain
        line = b"%d,2026-11-29T05:00:00Z,calamity,%s\n"
        text = b"".join(line % (i, os.urandom(8).hex().encode()) for i in range(size // 40 + 1))
        return text[:size]
    return bytes(size)


def cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def one_run(variant: Variant, args: argparse.Namespace, work: Path) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(dir=work))
    flags, env, durable = variant
    weed = services.start_seaweedfs(root / "seaweedfs", durable=durable, extra=flags, env=env)
    try:
        s3 = client(weed.url)
        proc = psutil.Process(weed.proc.pid)
        bodies = [payload(MIB, args.content) for _ in range(args.files)]
        typed = {"ContentType": args.content_type} if args.content_type else {}
        s3.put_object(Bucket=services.S3_BUCKET, Key="warm", Body=bodies[0], IfNoneMatch="*", **typed)
        time.sleep(0.5)  # let start-up work settle before counting

        def put(i: int) -> None:
            s3.put_object(Bucket=services.S3_BUCKET, Key=f"small/{i:05}", Body=bodies[i], IfNoneMatch="*", **typed)

        c0, t0 = cpu(proc), time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(put, range(args.files)))
        small_wall, small_cpu = time.perf_counter() - t0, cpu(proc) - c0

        parts = [payload(PART, args.content) for _ in range(args.multipart_mib * MIB // PART)]
        c0, t0 = cpu(proc), time.perf_counter()
        mpu = s3.create_multipart_upload(Bucket=services.S3_BUCKET, Key="big", **typed)["UploadId"]

        def part(n: int) -> dict[str, Any]:
            reply = s3.upload_part(Bucket=services.S3_BUCKET, Key="big", UploadId=mpu, PartNumber=n + 1, Body=parts[n])
            return {"PartNumber": n + 1, "ETag": reply["ETag"]}

        with concurrent.futures.ThreadPoolExecutor(min(args.threads, 2)) as pool:
            done = list(pool.map(part, range(len(parts))))
        s3.complete_multipart_upload(
            Bucket=services.S3_BUCKET, Key="big", UploadId=mpu, MultipartUpload={"Parts": done}, IfNoneMatch="*"
        )
        big_wall, big_cpu = time.perf_counter() - t0, cpu(proc) - c0
        head = s3.head_object(Bucket=services.S3_BUCKET, Key="big")
        if head["ContentLength"] != len(parts) * PART:
            raise RuntimeError(f"stored {head['ContentLength']} bytes of {len(parts) * PART}")
        return {
            "small ms/MiB": 1000 * small_cpu / args.files,
            "small MB/s": args.files * MIB / 1e6 / small_wall,
            "multipart ms/MiB": 1000 * big_cpu / args.multipart_mib,
            "multipart MB/s": args.multipart_mib * MIB / 1e6 / big_wall,
            "RSS MB": proc.memory_info().rss / 1e6,
        }
    finally:
        weed.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--multipart-mib", type=int, default=64)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--content", choices=("random", "zeros", "text"), default="random")
    parser.add_argument("--content-type", default="", help="sent with every object (default: none, as before)")
    args = parser.parse_args()
    names = args.variants.split(",")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="seaweed-cost-") as tmp:
        for _ in range(args.runs):
            for name in names:
                results[name].append(one_run(VARIANTS[name], args, Path(tmp)))
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.runs} runs; {args.content} bytes")
    keys = list(results[names[0]][0])
    print(f"{'variant':24}" + "".join(f"{k:>18}" for k in keys))
    for name in names:
        medians = [statistics.median(r[k] for r in results[name]) for k in keys]
        print(f"{name:24}" + "".join(f"{m:18.1f}" for m in medians))


if __name__ == "__main__":
    main()
