"""The labeled image sets the image benchmarks and model tools read, and a per-file feature cache.

A set is a folder with ``manifest.csv``; three layouts are read:

- the development set (``shared/datasets/cartoon-photo``): ``file,label,source_package,...``
- the training set (``.bench-work/train-set``, else ``data/trainset-v3``):
  ``file,label,source,group,kind,package,version,origin,sha256``
- the external set (``benchmarks/external_set.py``): ``file,label,source_package,version,part,origin,sha256``

Every file becomes an :class:`Item` with its leave-one-source-out group (its source package or collection) and a
kind (what sort of picture, where the manifest says). Files from the reserved Debian packages (independent
checks, never to be used) are dropped on reading, whatever the set.

The cache keeps what an extractor computed for a file under ``.bench-work/features/NAME/SHA256.npz``, so folds
and reruns never compute a file's backbone features twice.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "datasets" / "cartoon-photo"
# the builder's default output (benchmarks/train_set.py) and the folder the shipped head was fitted from
TRAIN_SETS = (ROOT / ".bench-work" / "train-set", ROOT.parent / "data" / "trainset-v3")
EXTERNAL_SETS = (ROOT.parent / "data" / "external", ROOT / ".bench-work" / "external-set")
CACHE = ROOT / ".bench-work" / "features"
RESERVED = frozenset(
    {
        "gcompris-qt-data",
        "scratch",
        "wesnoth-1.16-data",
        "hedgewars-data",
        "supertux-data",
        "stellarium-data",
        "widelands-data",
        "plasma-workspace-wallpapers",
        "mate-backgrounds",
        "kstars-data",
        "palapeli-data",
        "freeciv-data",
        "renpy-thequestion",
    }
)


@dataclasses.dataclass(frozen=True)
class Item:
    """One labeled picture: ``group`` is its leave-one-source-out group, ``kind`` what sort of picture it is."""

    path: Path
    label: str
    group: str
    kind: str
    sha256: str
    set_name: str

    @property
    def y(self) -> int:
        return int(self.label == "cartoon")


def default_sets() -> list[Path]:
    """The development set, the training set when it is there, and the first external set found."""
    found = [DEV_SET]
    found += [p for p in TRAIN_SETS if (p / "manifest.csv").is_file()][:1]
    found += [p for p in EXTERNAL_SETS if (p / "manifest.csv").is_file()][:1]
    return found


def read_set(root: Path) -> list[Item]:
    """The usable items of one set (reserved packages and missing files left out)."""
    items = []
    with open(root / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            package = row.get("package") or row.get("source_package") or ""
            source = row.get("source") or package
            if package in RESERVED or source in RESERVED:
                continue
            path = root / row["file"]
            if not path.is_file():
                continue
            kind = row.get("kind") or row.get("part") or ""
            items.append(
                Item(
                    path=path,
                    label=row["label"],
                    group=source.rsplit("/", 1)[-1],  # "pypi/gradio" in one set is "gradio" in another
                    kind=f"{row['label']}:{kind}" if kind else row["label"],
                    sha256=row.get("sha256") or "",
                    set_name=root.name,
                )
            )
    return _with_digests(items)


def read_sets(roots: Sequence[Path]) -> list[Item]:
    """All items of several sets, each file once (by content)."""
    seen: set[str] = set()
    out = []
    for root in roots:
        for item in read_set(root):
            if item.sha256 not in seen:
                seen.add(item.sha256)
                out.append(item)
    return out


def _with_digests(items: list[Item]) -> list[Item]:
    """Items with their file's sha256; a file whose content no longer matches its manifest (a set being
    rebuilt) or that vanished is left out, so that nothing wrong lands in the cache under its digest."""

    def fill(item: Item) -> Item | None:
        try:
            digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
        except OSError:
            return None
        if item.sha256 and item.sha256 != digest:
            return None
        return dataclasses.replace(item, sha256=digest)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return [item for item in pool.map(fill, items) if item is not None]


Extractor = Callable[[Sequence[Path]], list[npt.NDArray[np.float32]]]


def cached(name: str, items: Sequence[Item], extract: Extractor, chunk: int = 64) -> list[npt.NDArray[np.float32]]:
    """``extract``'s array for every item, computed only for files not yet in the cache ``name``."""
    folder = CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    out: list[npt.NDArray[np.float32] | None] = []
    missing = []
    for i, item in enumerate(items):
        path = folder / f"{item.sha256}.npz"
        if path.is_file():
            with np.load(path) as data:
                out.append(data["x"])
        else:
            out.append(None)
            missing.append(i)
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        for i, x in zip(part, extract([items[i].path for i in part]), strict=True):
            out[i] = x
            if not items[i].path.is_file():  # gone while we read it: the result means nothing, keep it out
                continue
            tmp = folder / f"{items[i].sha256}.tmp.npz"
            np.savez(tmp, x=x)
            os.replace(tmp, folder / f"{items[i].sha256}.npz")
    return [x for x in out if x is not None]
