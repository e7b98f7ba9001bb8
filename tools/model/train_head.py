#!/usr/bin/env python3
"""Rebuild the shipped head from the development set: the same training as `calamity images train`, plus
JPEG-recompressed copies of every image (the dataset's JPEGs are all photos: the format must be no hint).

    python tools/model/train_head.py [DATASET] [--out src/codecalamity/images/model/head.npz]

Fixed seed 0; 20 % of each class is held out (stratified, by image) and never trained on; its figures are
printed and belong in ORIGIN.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from codecalamity.images.train import extract, fit_head, labeled

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", nargs="?", type=Path, default=ROOT.parent / "shared" / "datasets" / "cartoon-photo")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "codecalamity" / "images" / "model" / "head.npz")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    paths, labels = labeled(args.dataset)
    started = time.perf_counter()
    feats, failed = extract(paths, args.size, jpeg=True, seed=0)
    if failed:
        raise SystemExit(f"unreadable: {failed}")
    report = fit_head(feats, labels, args.size, seed=0, info=f"cartoon-photo development set, {len(paths)} images")
    report.head.save(args.out)
    print(
        f"{len(paths)} images, features in {time.perf_counter() - started:.0f} s; held out {report.n_validation}: "
        f"accuracy {report.accuracy:.4f}, recall cartoon {report.recall['cartoon']:.4f}, "
        f"photo {report.recall['photo']:.4f}; L2 {report.l2:g} (chosen by cross-validation); wrote {args.out}"
    )


if __name__ == "__main__":
    main()
