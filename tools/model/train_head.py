#!/usr/bin/env python3
"""Rebuild the shipped head: the recipe of codecalamity.images.recipe on every usable labeled picture, calibrated
and thresholded on its leave-one-source-out scores.

    python tools/model/train_head.py [SET ...] [--out src/codecalamity/images/model/head.npz]

SETs default to the development set, the training set (.bench-work/train-set as benchmarks/train_set.py
builds it by default, else ../data/trainset-v3) and the external set (as
benchmarks/images.py; reserved packages are never read). Backbone features come from the per-file cache
(tools/model/views.py computes what is missing). Steps: leave-one-source-out raw scores of the recipe; Platt
scaling fitted on them; the sort thresholds chosen on the calibrated pooled scores so that moved files are
right 99 % of the time; the final fit on every picture. Prints the LOSO figures (the headline) and, as a
secondary line, a random 80/20 split's accuracy (seed 0), for ORIGIN.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools" / "model"))

from image_sets import default_sets, read_sets  # noqa: E402
from views import use_backbone, view_matrix  # noqa: E402

from codecalamity.images import ridge  # noqa: E402
from codecalamity.images.loso import choose_thresholds, pooled_scores, summarise  # noqa: E402
from codecalamity.images.methods.model import Head  # noqa: E402
from codecalamity.images.recipe import RECIPE  # noqa: E402

DEFAULT_OUT = ROOT / "src" / "codecalamity" / "images" / "model" / "head.npz"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--backbone",
        type=Path,
        action="append",
        help="features from another backbone file (to measure it); several: their features side by side "
        "('shipped' names the shipped backbone)",
    )
    parser.add_argument("--predictions", type=Path, help="write each picture's out-of-source P(cartoon) (CSV)")
    parser.add_argument("--l2", type=float, help="another ridge strength than the recipe's (to measure it)")
    parser.add_argument("--damping", type=float, help="another source damping than the recipe's (to measure it)")
    parser.add_argument("--views", help="other views than the recipe's, comma-separated (to measure them)")
    parser.add_argument("--train-view", action="append", default=[], help="another training-only view (to measure it)")
    parser.add_argument("--background", type=int, help="another grey level for transparent pixels (to measure it)")
    args = parser.parse_args()
    views = tuple(args.views.split(",")) if args.views else RECIPE.test_views
    recipe = dataclasses.replace(
        RECIPE,
        l2=RECIPE.l2 if args.l2 is None else args.l2,
        damping=RECIPE.damping if args.damping is None else args.damping,
        train_views=(views if args.views else RECIPE.train_views) + tuple(args.train_view),
        test_views=views,
        background=RECIPE.background if args.background is None else args.background,
    )
    roots = args.sets or default_sets()
    items = read_sets(roots)
    train = []
    for view in recipe.train_views:
        parts = []
        for backbone in args.backbone or [None]:
            use_backbone(None if backbone is None or str(backbone) == "shipped" else backbone)
            parts.append(view_matrix(items, view, recipe.background))
        train.append(np.hstack(parts))
    k = len(recipe.test_views)
    assert recipe.train_views[:k] == recipe.test_views
    good = np.all([np.isfinite(v).all(axis=1) for v in train], axis=0)
    items = [it for it, g in zip(items, good, strict=True) if g]
    rows = [np.stack([v[i] for v in train]) for i in np.flatnonzero(good)]
    labels = np.array([it.y for it in items])
    groups, kinds = [it.group for it in items], [it.kind for it in items]

    def fit(idx: np.ndarray):  # type: ignore[no-untyped-def]
        linear = recipe.fit([rows[i] for i in idx], labels[idx], [groups[i] for i in idx], [kinds[i] for i in idx])
        return lambda held: np.array([linear(rows[i][:k]).mean() for i in held])

    # leave-one-source-out folds are unions of whole sources: the per-source sums are taken once
    parts = ridge.cells(rows, [int(v) for v in labels], groups, kinds)

    def fit_sources(idx: np.ndarray):  # type: ignore[no-untyped-def]
        (linear,) = ridge.fit(parts, {groups[i] for i in idx}, [recipe.l2], recipe.damping)
        return lambda held: np.array([linear(rows[i][:k]).mean() for i in held])

    raw = pooled_scores(groups, fit_sources)
    a, b = recipe.calibrate(raw, labels)
    probs = 1 / (1 + np.exp(-np.clip(a * raw + b, -50, 50)))
    high, low = choose_thresholds(probs, labels)
    s = summarise(probs, labels, groups, [it.kind for it in items], high, low)
    if args.predictions:
        with open(args.predictions, "w") as f:
            f.write("file,label,group,kind,p_cartoon\n")
            f.writelines(
                f'"{it.path}",{it.label},{it.group},{it.kind},{p:.5f}\n' for it, p in zip(items, probs, strict=True)
            )
    (linear,) = ridge.fit(parts, set(groups), [recipe.l2], recipe.damping)
    head = Head(
        linear.mean.astype(np.float32),
        linear.scale.astype(np.float32),
        linear.weights.astype(np.float32),
        linear.bias,
        a,
        b,
        224,
        f"{len(items)} pictures from {len(set(groups))} sources ({', '.join(r.name for r in roots)})",
        views=recipe.test_views,
        cartoon_above=high,
        photo_below=low,
        background=recipe.background,
    )
    head.save(args.out)
    rng = np.random.default_rng(0)
    held = rng.random(len(items)) < 0.2
    split = fit(np.flatnonzero(~held))(np.flatnonzero(held))
    split_acc = float(((split >= 0) == labels[held]).mean())
    print(f"{len(items)} pictures, {len(set(groups))} sources; wrote {args.out}")
    print(
        f"LOSO: accuracy {s.accuracy:.4f}, recall cartoon {s.recall['cartoon']:.4f} photo {s.recall['photo']:.4f}; "
        f"thresholds {high:.4f}/{low:.4f}: precision {s.precision:.4f}, coverage {s.coverage:.3f}; "
        f"Platt a {a:.4f} b {b:.4f}"
    )
    for key, (right, n) in s.by_group.items():
        print(f"    source {key:38} {right:5d}/{n:<5d} {right / n:7.1%}")
    for key, (right, n) in s.by_kind.items():
        print(f"    kind   {key:38} {right:5d}/{n:<5d} {right / n:7.1%}")
    print(f"random 80/20 split (seed 0, by picture): accuracy {split_acc:.4f} on {int(held.sum())} pictures")


if __name__ == "__main__":
    main()
