"""Build the external image set: drawn art and photographs from Debian packages that the development set
(../shared/datasets/cartoon-photo) and the shipped model never saw.

    python benchmarks/external_set.py [OUT]     (default: .bench-work/external-set)

Fetches five pinned Debian packages with `apt-get download` (about 300 MB; kept in OUT/../debs for the next
run), unpacks them with `dpkg-deb -x`, reads GCompris's Qt resource bundles (.rcc) directly, and copies the
hand-checked selection below byte for byte (WebP, PNG and JPEG as the packages ship them) into OUT/cartoon and
OUT/photo, with OUT/manifest.csv (file,label,source_package,version,part,origin). Near-duplicates (64-bit
difference hash within 4 bits of one already kept) are dropped, the first one wins. The same package
versions always give the same set. Labels were checked by eye on contact sheets of every file.

What is in it, and why:
- photo: GCompris's photographs (monuments, fish, tools and household objects on plain backgrounds, renewable
  energy, farm and wild animals, musical instruments; WebP), OpenCV's sample photographs (JPEG/PNG, some
  grayscale), LXQt's photographic wallpapers.
- cartoon: Art4Apps children's-book drawings as shipped by pysiogame (JPEG on white: a format the development
  set only has for photos), Wesnoth's unit portraits (realistic digital paintings on transparency) and story
  landscapes (painted scenes), Van Gogh paintings from GCompris, OpenCV's drawn samples (a clip-art fish, an
  anime drawing, The Starry Night).
Left out: GCompris's Art4Apps words (the same drawings as pysiogame's), its puzzle pieces and round details,
OpenCV's synthetic, text and chessboard images, the 3D-rendered robot, screenshots, icons and game sprites.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".bench-work" / "external-set"

PACKAGES = {
    "gcompris-qt-data": "3.1-2",
    "opencv-doc": "4.6.0+dfsg-12",
    "lxqt-themes": "1.2.0-1",
    "pysiogame": "4.20.01-1",
    "wesnoth-1.16-data": "1:1.16.9-1",
}

GC = "usr/share/gcompris-qt/rcc/"
CV = "usr/share/doc/opencv-doc/examples/"
WES = "usr/share/games/wesnoth/1.16/data/core/images/"
VAN_GOGH = (
    "Eglise_dAuvers-sur-Oise",
    "Gogh4",
    "PortraitOfPereTanguy",
    "Van_Gogh_The_Night_Cafe",
    "VincentVanGogh0012",
    "VincentVanGogh0013",
    "VincentVanGogh0019",
    "VincentVanGoghBridge",
)
DETAIL_PHOTOS = (
    "Chenonceau",
    "EgeskovSlotSpejling",
    "EilanDonanCastle",
    "FanoeWindmill",
    "GizahPyramids",
    "Louvre_2007_02_24_c",
    "NDP",
    "Nagoya",
    "Neuschwanstein",
    "OperaSidney",
    "TajMahal",
    "TourEiffel",
    "TowerBridgeLondon",
)
CV_PHOTOS = [f"data/{n}.jpg" for n in (
    "aero1", "aero3", "aloeL", "apple", "baboon", "board", "building", "butterfly", "ela_original", "fruits",
    "home", "left", "left01", "leuvenA", "licenseplate_motion", "messi5", "orange", "right", "squirrel_cls", "stuff",
)] + [f"data/{n}.png" for n in (
    "basketball1", "box_in_scene", "chicky_512", "graf1", "rubberwhale1", "smarties", "sudoku",
)] + ["reg/home.png", "dnn_superres/butterfly.png"]  # fmt: skip
LXQT_PHOTOS = (
    "appleflower.png",
    "Butterfly-Kenneth-Wimer.jpg",
    "Valendas.png",
    "after-the-rain.jpg",
    "beam.png",
    "butterfly.png",
    "cloud.png",
    "drop.png",
    "flowers.png",
    "fog.jpg",
)


@dataclass(frozen=True)
class Pick:
    """Files of one package for one label: ``pattern`` is a glob under the unpacked package (a path inside a
    GCompris bundle after ``!``); ``every``/``start`` keep every n-th match of the sorted list."""

    label: str
    package: str
    part: str
    pattern: str
    every: int = 1
    start: int = 0


PICKS = [
    *(Pick("photo", "gcompris-qt-data", "categorization", f"{GC}categorization.rcc!{p}")
      for p in ("monuments", "fishes", "renewable", "others", "tools")),
    Pick("photo", "gcompris-qt-data", "explore", f"{GC}explore_farm_animals.rcc!animals"),
    Pick("photo", "gcompris-qt-data", "explore", f"{GC}explore_world_animals.rcc!animals"),
    Pick("photo", "gcompris-qt-data", "explore", f"{GC}explore_monuments.rcc!*"),
    Pick("photo", "gcompris-qt-data", "explore", f"{GC}explore_world_music.rcc!music"),
    *(Pick("photo", "gcompris-qt-data", "details", f"{GC}details.rcc!{n}_background") for n in DETAIL_PHOTOS),
    *(Pick("photo", "opencv-doc", "samples", CV + p) for p in CV_PHOTOS),
    *(Pick("photo", "lxqt-themes", "wallpapers", f"usr/share/lxqt/wallpapers/{n}") for n in LXQT_PHOTOS),
    Pick("cartoon", "pysiogame", "art4apps", "usr/share/games/pysiogame/res/images/art4apps/*/*.jpg", 6, 5),
    Pick("cartoon", "wesnoth-1.16-data", "portraits", WES + "portraits/**/*.png", 4, 3),
    Pick("cartoon", "wesnoth-1.16-data", "story", WES + "story/*.jpg"),
    *(Pick("cartoon", "gcompris-qt-data", "paintings", f"{GC}details.rcc!{n}_background") for n in VAN_GOGH),
    Pick("cartoon", "opencv-doc", "samples", CV + "data/HappyFish.jpg"),
    Pick("cartoon", "opencv-doc", "samples", CV + "data/starry_night.jpg"),
    Pick("cartoon", "opencv-doc", "samples", CV + "fuzzy/input.png"),
]  # fmt: skip


def rcc_files(path: Path, keep: Callable[[str], bool]) -> dict[str, bytes]:
    """The files of a Qt resource bundle (format 1-3, zlib-compressed or stored) whose path inside ``keep``
    accepts, by that path; the others are never decompressed."""
    blob = path.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path} is not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 14 if version < 2 else 22
    files: dict[str, bytes] = {}

    def name(offset: int) -> str:
        at = names + offset
        (length,) = struct.unpack(">H", blob[at : at + 2])
        return blob[at + 6 : at + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        here = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            for child in range(first, first + count):
                walk(child, here)
            return
        if not keep(here.lstrip("/")):
            return
        (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        body = blob[data + offset + 4 : data + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed entries are not supported")
        files[here.lstrip("/")] = zlib.decompress(body[4:]) if flags & 1 else body

    walk(0, "")
    return files


def fetch(work: Path) -> dict[str, Path]:
    """Download (once) and unpack the pinned packages; their unpacked roots by name."""
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    roots = {}
    for package, version in PACKAGES.items():
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            download = ["apt-get", "download", "-o", "APT::Sandbox::User=root", f"{package}={version}"]
            if subprocess.run(download, cwd=debs).returncode != 0:  # a fresh machine may have no package lists
                subprocess.run(["apt-get", "update", "-qq"], check=True)
                subprocess.run(download, cwd=debs, check=True)
            found = sorted(debs.glob(f"{package}_*.deb"))
        shipped = subprocess.run(
            ["dpkg-deb", "-f", str(found[0]), "Version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if shipped != version:
            raise SystemExit(f"{found[0]} is version {shipped}, expected {version}: delete it and run again")
        roots[package] = work / "unpacked" / package
        if not roots[package].is_dir():  # unpacked beside, then renamed: a half-unpacked tree is never used
            partial = roots[package].with_name(package + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(found[0]), str(partial)], check=True)
            partial.rename(roots[package])
    return roots


def matches(pick: Pick, roots: dict[str, Path], bundles: dict[Path, dict[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """(origin, bytes) of the files a pick selects, in sorted order; only the files kept are read."""
    root = roots[pick.package]
    if "!" in pick.pattern:  # inside a GCompris bundle: a folder name (any depth) or a file stem, WebP images
        bundle, inner = pick.pattern.split("!", 1)
        path = root / bundle
        if path not in bundles:
            bundles[path] = rcc_files(path, lambda inside: inside.endswith(".webp"))
        files = bundles[path]
        inside = sorted(o for o in files if inner == "*" or f"/{inner}/" in f"/{o}" or Path(o).stem == inner)
        found: list[tuple[str, Callable[[], bytes]]] = [
            (f"{bundle}!{o}", functools.partial(files.__getitem__, o)) for o in inside
        ]
    else:
        found = [(str(p.relative_to(root)), p.read_bytes) for p in sorted(root.glob(pick.pattern))]
    if not found:
        raise SystemExit(f"{pick.package}: nothing matches {pick.pattern}")
    for origin, read in found[pick.start :: pick.every]:
        yield origin, read()


def dhash(data: bytes) -> int:
    """64-bit difference hash of the image composited on white."""
    with Image.open(io.BytesIO(data)) as img:
        rgba = img.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    px = flat.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    return sum(1 << i for i in range(64) if px[(i // 8) * 9 + i % 8] > px[(i // 8) * 9 + i % 8 + 1])


def build(out: Path = DEFAULT_OUT) -> Path:
    """Build the set into ``out`` (replacing an older one only once the new one is complete)."""
    roots = fetch(out.parent / "external-packages")
    staging = Path(tempfile.mkdtemp(prefix=".external-", dir=out.parent))
    try:
        rows = _fill(staging, roots)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    counts = {label: sum(r["label"] == label for r in rows) for label in ("cartoon", "photo")}
    print(f"external set: {counts['cartoon']} cartoons, {counts['photo']} photos in {out}", file=sys.stderr)
    return out


def _fill(staging: Path, roots: dict[str, Path]) -> list[dict[str, str]]:
    """Copy the picks into ``staging``, write its manifest, and return the manifest's rows."""
    bundles: dict[Path, dict[str, bytes]] = {}
    rows: list[dict[str, str]] = []
    hashes: list[int] = []
    names: set[str] = set()
    for pick in PICKS:
        for origin, body in matches(pick, roots, bundles):
            digest = dhash(body)
            if any(bin(digest ^ kept).count("1") <= 4 for kept in hashes):
                print(f"near-duplicate dropped: {pick.package}: {origin}", file=sys.stderr)
                continue
            hashes.append(digest)
            tail = "_".join(re.split(r"[/!]", origin)[-2:])
            stem = f"{pick.package.split('-')[0]}__{re.sub(r'[^A-Za-z0-9._-]+', '-', Path(tail).stem)}"
            suffix = Path(origin).suffix.lower()
            name, n = stem + suffix, 1
            while name in names:
                n += 1
                name = f"{stem}-{n}{suffix}"
            names.add(name)
            (staging / pick.label).mkdir(exist_ok=True)
            (staging / pick.label / name).write_bytes(body)
            rows.append(
                {
                    "file": f"{pick.label}/{name}",
                    "label": pick.label,
                    "source_package": pick.package,
                    "version": PACKAGES[pick.package],
                    "part": pick.part,
                    "origin": origin,
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
            )
    with open(staging / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def ensure(out: Path = DEFAULT_OUT) -> Path:
    """The set at ``out``, built first if it is not there."""
    return out if (out / "manifest.csv").is_file() else build(out)


if __name__ == "__main__":
    build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_OUT)
