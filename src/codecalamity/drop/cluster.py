"""A whole drop cluster on one machine (``make cluster``): SeaweedFS, PostgreSQL, N nodes and haproxy in front.

Every part is a child process on loopback with its data under one folder; stopping the supervisor (Ctrl+C,
SIGTERM) stops them all, load balancer first, services last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from codecalamity.drop import services
from codecalamity.drop.services import Service

logger = logging.getLogger(__name__)
BUCKET_PREFIX = "drop"


@dataclasses.dataclass
class Cluster:
    """The running parts, in start order."""

    postgres: Service
    seaweedfs: Service
    nodes: list[Service]
    haproxy: Service

    @property
    def url(self) -> str:
        """The load balancer's address: the one to open."""
        return self.haproxy.url

    def parts(self) -> list[Service]:
        """Every process, in the order to stop them."""
        return [self.haproxy, *self.nodes, self.seaweedfs, self.postgres]

    def stop(self) -> None:
        """Stop every part (the ones already gone are skipped)."""
        for part in self.parts():
            part.stop()


def node_command(port: int, folder: Path, s3_url: str, ledger: str, args: Sequence[str]) -> list[str]:
    """A node's command line: ``calamity drop serve`` on ``port`` with the shared storage and ledger."""
    # relative paths when shorter: the nodes' command lines stay short (and free of the supervisor's name)
    python, chunks = _short(sys.executable), _short(str(folder / "chunks"))
    return [
        python,
        "-m",
        "codecalamity",
        "drop",
        "serve",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
        "--storage",
        s3_url,
        "--ledger",
        ledger,
        "-c",
        chunks,
        *args,
    ]


def _short(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if len(relative) < len(path) else path


def start_node(
    port: int, folder: Path, s3: Service, ledger: str, args: Sequence[str], name: str, prefix: str = BUCKET_PREFIX
) -> Service:
    """Start one node and wait until it answers; it keeps uploads under ``prefix`` in the bucket."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": s3.url,
        "AWS_ACCESS_KEY_ID": services.S3_KEYS[0],
        "AWS_SECRET_ACCESS_KEY": services.S3_KEYS[1],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    log = folder / "node.log"
    cmd = node_command(port, folder, f"s3://{services.S3_BUCKET}/{prefix}", ledger, args)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    services.wait_until(lambda: _answers(port), proc, name, log, 60)
    return Service(name, proc, f"http://127.0.0.1:{port}/", log, port)


def _answers(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_cluster(data: Path, port: int | None, nodes: int, node_args: Sequence[str]) -> Cluster:
    """Start every part; on any failure, stop what was started and raise."""
    data.mkdir(parents=True, exist_ok=True)
    started: list[Service] = []
    try:
        postgres = services.start_postgres(data / "postgres")
        started.append(postgres)
        seaweedfs = services.start_seaweedfs(data / "seaweedfs")
        started.append(seaweedfs)
        ports = services.free_ports(nodes)
        workers = []
        for i, node_port in enumerate(ports, 1):
            workers.append(start_node(node_port, data / f"node{i}", seaweedfs, postgres.url, node_args, f"node{i}"))
            started.append(workers[-1])
        haproxy = services.start_haproxy(data / "haproxy", ports, port)
        started.append(haproxy)
    except BaseException:
        for part in reversed(started):
            part.stop()
        raise
    return Cluster(postgres, seaweedfs, workers, haproxy)


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (the previous handlers come back after)."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(
    data: Path, port: int | None, nodes: int, node_args: Sequence[str], announce: Callable[[Cluster], None]
) -> None:
    """Start the cluster, call ``announce``, and keep it up until SIGINT or SIGTERM; then stop it all."""
    with stop_signals() as stop:
        cluster = start_cluster(data, port, nodes, node_args)
        try:
            announce(cluster)
            gone: set[str] = set()
            while not stop.wait(1.0):
                for part in cluster.parts():
                    if part.name not in gone and not part.alive():
                        gone.add(part.name)
                        logger.warning("%s exited with %s (log: %s)", part.name, part.proc.returncode, part.log)
        finally:
            cluster.stop()
