"""The drop server's settings, validated once so the app can trust them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from codecalamity._errors import UsageError

MIB = 1024 * 1024
# The Dropzone.js release shipped in ``static/vendor`` (the last 5.x, the tutorial's major version).
VENDORED_DROPZONE = "5.9.3"

# The largest chunk a client may announce; bounds one request's body.
MAX_CHUNK_BYTES = 256 * MIB


@dataclasses.dataclass(frozen=True)
class DropConfig:
    """Every setting of the drop server; the defaults are the tutorial's.

    Sizes are bytes unless the name says otherwise; ``max_size_mb`` is in MiB as Dropzone counts it.
    """

    storage: Path = Path("storage")
    chunks: Path = Path("chunks")
    host: str = "127.0.0.1"
    port: int = 16273
    max_size_mb: int = 100000
    timeout_ms: int = 120000
    chunk_size: int = 1000000
    parallel_chunks: bool = True
    force_chunking: bool = True
    allow_downloads: bool = False
    dz_cdn: str | None = None
    dz_version: str | None = None
    partial_ttl: float = 24 * 3600.0
    keep: float | None = None
    reserve_mb: int = 100
    password: str | None = None
    sweep_interval: float = 60.0
    page_mode: str = "tus"
    object_store: str | None = None
    """``--storage s3://BUCKET/PREFIX``: keep the bytes in S3-compatible object storage instead of a folder."""
    s3_endpoint: str | None = None
    ledger: str | None = None
    """``--ledger``: a ``postgresql://`` URL shared by the nodes of a cluster, or a SQLite file (default:
    ``.calamity-drop.sqlite3`` in the storage folder)."""

    @property
    def sweep_every(self) -> float:
        """Seconds between expiry sweeps: ``sweep_interval``, or less with a short ``partial_ttl``."""
        return max(0.5, min(self.sweep_interval, self.partial_ttl / 4))

    @property
    def max_size(self) -> int:
        """The largest upload accepted, in bytes."""
        return self.max_size_mb * MIB

    @property
    def reserve(self) -> int:
        """Free disk space always left untouched, in bytes."""
        return self.reserve_mb * MIB

    @property
    def timeout(self) -> float:
        """Seconds a request may go without sending body data before it is dropped."""
        return self.timeout_ms / 1000.0

    @property
    def dropzone_base(self) -> str:
        """Where the page loads Dropzone from: the vendored copy unless ``--dz-cdn`` names another."""
        return (self.dz_cdn or "/static/vendor/dropzone").rstrip("/")

    @property
    def dropzone_version(self) -> str:
        """The Dropzone release the page loads."""
        return self.dz_version or VENDORED_DROPZONE

    def validate(self) -> DropConfig:
        """Check every setting; return ``self`` or raise :class:`UsageError` naming the bad option."""
        for name, value in (
            ("--max-size", self.max_size_mb),
            ("--timeout", self.timeout_ms),
            ("--chunk-size", self.chunk_size),
        ):
            if value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value}")
        if self.chunk_size > MAX_CHUNK_BYTES:
            raise UsageError(f"--chunk-size must be at most {MAX_CHUNK_BYTES} bytes, got {self.chunk_size}")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port must be 0-65535, got {self.port}")
        if self.reserve_mb < 0:
            raise UsageError(f"--reserve must be zero or more MB, got {self.reserve_mb}")
        if self.partial_ttl <= 0:
            raise UsageError("--partial-ttl must be longer than zero")
        if self.keep is not None and self.keep <= 0:
            raise UsageError("--keep must be longer than zero")
        if self.password is not None and not self.password:
            raise UsageError("--password must not be empty")
        if self.dz_cdn is not None and not re.match(r"^(https?:)?//|^/", self.dz_cdn):
            raise UsageError(f"--dz-cdn must be an http(s) URL or an absolute path, got {self.dz_cdn!r}")
        if self.dz_version is not None and not re.fullmatch(r"[0-9A-Za-z.\-]{1,32}", self.dz_version):
            raise UsageError(f"--dz-version is not a version: {self.dz_version!r}")
        if self.object_store is not None and not re.fullmatch(
            r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?", self.object_store
        ):
            raise UsageError(f"--storage s3://BUCKET/PREFIX needs a valid bucket name, got {self.object_store!r}")
        if self.page_mode not in ("tus", "dropzone"):
            raise UsageError(f"--page-mode must be tus or dropzone, got {self.page_mode!r}")
        if self.dz_cdn is None and self.dropzone_version != VENDORED_DROPZONE:
            raise UsageError(
                f"Dropzone {self.dropzone_version} is not shipped (only {VENDORED_DROPZONE}); "
                "give --dz-cdn to load it from elsewhere"
            )
        return self
