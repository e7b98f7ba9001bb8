"""``calamity drop``: start the drop box server (``serve`` is the default command)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path

import click

from codecalamity._errors import UsageError
from codecalamity._util.durations import format_duration, parse_duration
from codecalamity.drop.config import DropConfig

PASSWORD_ENV = "CALAMITY_DROP_PASSWORD"


class _DefaultServe(click.Group):
    """``calamity drop [OPTIONS]`` means ``calamity drop serve [OPTIONS]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


@click.group("drop", cls=_DefaultServe)
def drop() -> None:
    """A self-hosted drop box for large files from the browser (default command: serve)."""


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None or value.lower() in ("off", "never", "0"):
        return None
    try:
        return parse_duration(value)
    except UsageError as err:
        raise click.BadParameter(str(err)) from None


@drop.command("serve")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    default=16273,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 shares on the network.")
@click.option(
    "-s",
    "--storage",
    default="storage",
    show_default=True,
    help="Folder for finished files and the ledger, or s3://BUCKET/PREFIX for object storage.",
)
@click.option("--s3-endpoint", default=None, help="The S3 endpoint URL (default: AWS_ENDPOINT_URL, or AWS itself).")
@click.option(
    "-c",
    "--chunks",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("chunks"),
    show_default=True,
    help="Folder for partial uploads.",
)
@click.option("--max-size", type=int, default=100000, show_default=True, help="Max file size (MB).")
@click.option("--timeout", type=int, default=120000, show_default=True, help="Timeout (ms) for each chunk upload.")
@click.option("--chunk-size", type=int, default=1000000, show_default=True, help="Chunk size (bytes).")
@click.option("--disable-parallel-chunks", is_flag=True, help="Send one chunk of a file at a time.")
@click.option("--disable-force-chunking", is_flag=True, help="Send files smaller than a chunk in one request.")
@click.option("-a", "--allow-downloads", is_flag=True, help="Let uploaders download their files by token.")
@click.option("--dz-cdn", default=None, help="Load Dropzone from this base URL instead of the shipped copy.")
@click.option("--dz-version", default=None, help="Dropzone version (with --dz-cdn).")
@click.option(
    "--partial-ttl",
    default="24h",
    show_default=True,
    callback=_duration,
    help="Remove unfinished uploads idle this long.",
)
@click.option("--keep", default=None, callback=_duration, help="Remove finished files after this long (default: keep).")
@click.option("--reserve", type=int, default=100, show_default=True, help="Free disk space (MB) never to use.")
@click.option("--password", default=None, help=f"Require this password to upload (or set {PASSWORD_ENV}).")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate (PEM, with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The certificate's private key (PEM).",
)
@click.option(
    "--page-mode",
    type=click.Choice(["tus", "dropzone"]),
    default="tus",
    show_default=True,
    help="How the page sends files by default: tus (one resumable stream) or Dropzone chunks.",
)
@click.option(
    "--ledger",
    default=None,
    help="The ledger: a postgresql://user@host:port/db URL that every node of a cluster shares, or a SQLite file.",
)
@click.option("--keep-awake", is_flag=True, help="Keep the computer awake while uploads are in progress.")
@click.option("--keep-awake-grace", type=float, default=30.0, hidden=True, help="Seconds awake after the last upload.")
def serve(
    port: int,
    host: str,
    storage: str,
    s3_endpoint: str | None,
    chunks: Path,
    max_size: int,
    timeout: int,
    chunk_size: int,
    disable_parallel_chunks: bool,
    disable_force_chunking: bool,
    allow_downloads: bool,
    dz_cdn: str | None,
    dz_version: str | None,
    partial_ttl: float | None,
    keep: float | None,
    reserve: int,
    password: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    page_mode: str,
    ledger: str | None,
    keep_awake: bool,
    keep_awake_grace: float,
) -> None:
    """Start the drop box server and print the URL to open."""
    _check_tls(tls_cert, tls_key)
    config = DropConfig(
        storage=Path("storage") if storage.startswith("s3://") else Path(storage),
        object_store=storage if storage.startswith("s3://") else None,
        s3_endpoint=s3_endpoint,
        chunks=chunks,
        host=host,
        port=port,
        max_size_mb=max_size,
        timeout_ms=timeout,
        chunk_size=chunk_size,
        parallel_chunks=not disable_parallel_chunks,
        force_chunking=not disable_force_chunking,
        allow_downloads=allow_downloads,
        dz_cdn=dz_cdn,
        dz_version=dz_version,
        partial_ttl=partial_ttl if partial_ttl is not None else 24 * 3600.0,
        keep=keep,
        reserve_mb=reserve,
        password=password if password is not None else os.environ.get(PASSWORD_ENV) or None,
        page_mode=page_mode,
        ledger=ledger,
    ).validate()

    import uvicorn

    from codecalamity.drop.app import create_app

    sock = _bind(config.host, config.port)
    awake = None
    if keep_awake:
        from codecalamity.awake.activity import AwakeWhileBusy

        awake = AwakeWhileBusy("calamity drop: receiving uploads", grace=keep_awake_grace)
    app = create_app(config, on_activity=awake.update if awake else None)
    actual_port = sock.getsockname()[1]
    _banner(config, actual_port, keep_awake, tls=tls_cert is not None)
    if config.password and tls_cert is None and not _loopback(config.host):
        click.echo(
            f"Warning: --password without TLS on {config.host}: the password crosses the network readable by "
            "anyone on the way. Give --tls-cert and --tls-key, or serve behind an HTTPS proxy.",
            err=True,
        )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            timeout_keep_alive=30,
            lifespan="on",
            access_log=False,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        if awake is not None:
            awake.close()


@drop.command(
    "cluster", context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": ["-h"]}
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("drop-data"),
    show_default=True,
    help="Folder for everything: PostgreSQL, SeaweedFS, the nodes' logs.",
)
@click.option("--lb-port", type=click.IntRange(0, 65535), default=16273, show_default=True, help="Load balancer port.")
@click.option("--nodes", type=click.IntRange(1, 16), default=3, show_default=True, help="How many drop nodes.")
@click.argument("node_args", nargs=-1, type=click.UNPROCESSED)
def cluster(data: Path, lb_port: int, nodes: int, node_args: tuple[str, ...]) -> None:
    """Run a local cluster: SeaweedFS, PostgreSQL, NODES drop servers and haproxy in front (Ctrl+C stops all).

    Any other options (NODE_ARGS, e.g. --allow-downloads) are passed to every node.
    """
    from codecalamity.drop.cluster import Cluster, run

    def announce(parts: Cluster) -> None:
        click.echo(f"PostgreSQL:      {parts.postgres.url}")
        click.echo(f"SeaweedFS S3:    {parts.seaweedfs.url}")
        for node in parts.nodes:
            click.echo(f"{node.name + ':':17}{node.url}")
        click.echo(f"Data:            {data.resolve()}")
        click.echo("")
        click.echo(f"Open {parts.url}")
        click.echo("Press Ctrl+C to stop.")

    run(data, lb_port or None, nodes, node_args, announce)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _redacted(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _check_tls(cert: Path | None, key: Path | None) -> None:
    """Both TLS files or neither, and a certificate that loads with its key (a clear error now, not at start)."""
    if (cert is None) != (key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if cert is None or key is None:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as err:
        raise UsageError(f"cannot use --tls-cert {cert} with --tls-key {key}: {err}") from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _urls(host: str, port: int, scheme: str = "http") -> list[str]:
    if host in ("0.0.0.0", "::"):
        hosts = ["127.0.0.1"]
        try:
            hosts += [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
        except OSError:
            pass
    else:
        hosts = [host]
    return [f"{scheme}://[{h}]:{port}/" if ":" in h else f"{scheme}://{h}:{port}/" for h in hosts]


def _banner(config: DropConfig, port: int, keep_awake: bool, *, tls: bool = False) -> None:
    rows = [
        ("Timeout", f"{config.timeout_ms} ms"),
        ("Chunk Size", f"{config.chunk_size} bytes"),
        ("Max File Size", f"{config.max_size_mb} MB"),
        ("Force Chunking", str(config.force_chunking).lower()),
        ("Parallel Chunks", str(config.parallel_chunks).lower()),
        ("Downloads", "on" if config.allow_downloads else "off"),
        ("Storage Path", config.object_store or str(config.storage.resolve())),
        ("Chunk Path", str(config.chunks.resolve())),
        ("Partial TTL", format_duration(config.partial_ttl)),
        ("Keep", format_duration(config.keep) if config.keep else "forever"),
        ("Disk Reserve", f"{config.reserve_mb} MB"),
        ("Password", "required" if config.password else "none"),
        ("TLS", "on" if tls else "off"),
        ("Keep Awake", "while uploading" if keep_awake else "off"),
        ("Dropzone", f"{config.dropzone_base}/{config.dropzone_version}"),
        ("Page Mode", config.page_mode),
        ("Ledger", _redacted(config.ledger) if config.ledger else "SQLite in the storage folder"),
    ]
    for key, value in rows:
        click.echo(f"{key + ':':17}{value}")
    click.echo("")
    for url in _urls(config.host, port, "https" if tls else "http"):
        click.echo(f"Open {url}")
    click.echo("Press Ctrl+C to stop.", err=False)


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    units = {"k": 1e3, "m": 1e6, "g": 1e9}
    text = value.strip().lower().rstrip("b/s")
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except (ValueError, IndexError):
        raise click.BadParameter(f"not a rate: {value!r} (try 500k, 20M)") from None


@drop.command("send")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "server", required=True, help="The drop server's URL, e.g. http://127.0.0.1:16273/")
@click.option("--password", default=None, help=f"Password for the server (or set {PASSWORD_ENV}).")
@click.option("-j", "--parallel", default=8, show_default=True, type=click.IntRange(1, 64), help="Files in flight.")
@click.option("--limit-rate", default=None, callback=_rate, help="Bandwidth limit for all files, e.g. 20M (bytes/s).")
@click.option(
    "--streams",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Connections for each file of 64 MiB or more (parts joined by the server; pays on a slow link only).",
)
@click.pass_context
def send(
    ctx: click.Context,
    files: tuple[Path, ...],
    server: str,
    password: str | None,
    parallel: int,
    limit_rate: float | None,
    streams: int,
) -> None:
    """Upload FILES to a drop server over tus: parallel, resumable, sha256-checked."""
    import sys

    from codecalamity.drop.send import ResumeState, Sender, send_all

    if not server.startswith(("http://", "https://")):
        raise UsageError(f"--to must be an http(s) URL, got {server!r}")
    secret = password if password is not None else os.environ.get(PASSWORD_ENV) or None
    state = ResumeState(Path(os.environ.get("CALAMITY_SEND_STATE") or ResumeState.default_path()))
    sender = Sender(server, secret, state, limit_rate, streams)
    paths = list(files)
    try:
        if not sys.stderr.isatty():  # no bars to draw (rich is not even imported)
            results = send_all(sender, paths, parallel, lambda path, n: None)
        else:
            from codecalamity._util.progress import progress

            with progress(transfer=True) as bar:
                total = bar.add_task("all files", total=sum(p.stat().st_size for p in paths))
                tasks = {p: bar.add_task(p.name[:40], total=p.stat().st_size) for p in paths}

                def advance(path: Path, n: int) -> None:
                    bar.advance(tasks[path], n)
                    bar.advance(total, n)

                results = send_all(sender, paths, parallel, advance)
    finally:
        sender.close()
    failed = [r for r in results if not r.ok]
    for r in results:
        if r.ok:
            resumed = f" (resumed at {r.resumed_at} bytes)" if r.resumed_at else ""
            link = f" {r.download}" if r.download else ""
            click.echo(f"sent {r.path}  sha256 {r.sha256}{resumed}{link}")
    for r in failed:
        click.echo(f"failed: {r.path}: {r.error}", err=True)
    if failed:
        ctx.exit(1)
