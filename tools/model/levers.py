#!/usr/bin/env python3
"""Measure the model's levers by leave-one-source-out on the cached view features (tools/model/views.py).

    python tools/model/levers.py [SET ...]

Each configuration says which views train the head (augmentation) and which views are averaged at prediction
time (multi-crop), whether the texture statistics join the features, and how large sources are damped; the
head is a balanced ridge classifier (codecalamity.images.ridge) with Platt scaling fitted on the pooled
out-of-source scores. Prints pooled accuracy, recalls, the sort's precision and coverage at thresholds chosen
for 99 % precision, and the worst sources.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools" / "model"))

from image_sets import Item, default_sets, read_sets  # noqa: E402
from views import view_matrix  # noqa: E402

from codecalamity.images import ridge  # noqa: E402
from codecalamity.images.loso import choose_thresholds, summarise  # noqa: E402
from codecalamity.images.train import fit_platt  # noqa: E402

L2 = (1.0, 3.0)


def loso(
    items: list[Item],
    train_views: list[np.ndarray],
    test_views: list[np.ndarray],
    damping: float,
) -> list[np.ndarray]:
    """Pooled out-of-source raw scores per L2 (test views' scores averaged)."""
    labels = [it.y for it in items]
    groups = [it.group for it in items]
    rows = [np.stack([v[i] for v in train_views]) for i in range(len(items))]
    parts = ridge.cells(rows, labels, groups)
    keys = np.array(groups)
    out = [np.zeros(len(items)) for _ in L2]
    for group in sorted(set(groups)):
        held = np.flatnonzero(keys == group)
        fits = ridge.fit(parts, set(groups) - {group}, L2, damping)
        for k, lin in enumerate(fits):
            out[k][held] = np.mean([lin(v[held]) for v in test_views], axis=0)
    return out


def report(name: str, items: list[Item], raw: list[np.ndarray], verbose: bool = False) -> None:
    y = np.array([it.y for it in items])
    best = None
    for lam, z in zip(L2, raw, strict=True):
        a, b = fit_platt(z, y.astype(np.float64))
        p = 1 / (1 + np.exp(-np.clip(a * z + b, -50, 50)))
        acc = float(((p >= 0.5) == y).mean())
        if best is None or acc > best[0]:
            best = (acc, lam, p)
    assert best is not None
    _, lam, p = best
    high, low = choose_thresholds(p, y)
    s = summarise(p, y, [it.group for it in items], [it.kind for it in items], high, low)
    worst = sorted(s.by_group.items(), key=lambda kv: kv[1][0] / kv[1][1])[:4]
    print(
        f"{name:34} l2 {lam:5g} acc {s.accuracy:.4f} rec c {s.recall['cartoon']:.3f} p {s.recall['photo']:.3f} "
        f"| thr {high:.3f}/{low:.3f} prec {s.precision:.4f} cov {s.coverage:.3f} | "
        + " ".join(f"{g}:{r}/{n}" for g, (r, n) in worst),
        flush=True,
    )
    if verbose:
        for g, (r, n) in s.by_group.items():
            print(f"    {g:40} {r:5d}/{n:<5d} {r / n:.3f}")
        for g, (r, n) in s.by_kind.items():
            print(f"    kind {g:35} {r:5d}/{n:<5d} {r / n:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--only", default="")
    parser.add_argument("--views", default="whole,mirror,jpeg,center,style-whole,style-center")
    args = parser.parse_args()
    items = read_sets(args.sets or default_sets())
    names = args.views.split(",")
    v = {name: view_matrix(items, name) for name in names}
    good = np.all([np.isfinite(x).all(axis=1) for x in v.values()], axis=0)
    items = [it for it, g in zip(items, good, strict=True) if g]
    v = {k: x[good] for k, x in v.items()}
    print(f"{len(items)} items, {len({it.group for it in items})} sources", flush=True)
    wmj = ["whole", "mirror", "jpeg"]
    wmjc = [*wmj, "center"]

    def cfg(train: list[str], test: list[str], damping: float):  # type: ignore[no-untyped-def]
        return ([v[k] for k in train], [v[k] for k in test], damping)

    configs = {
        "w+m+j / whole": lambda: cfg(wmj, ["whole"], 0.0),
        "w+m+j / whole, damped": lambda: cfg(wmj, ["whole"], 0.5),
        "w+m+j+c / whole+center": lambda: cfg(wmjc, ["whole", "center"], 0.0),
        "w+m+j+c / whole+center, damped": lambda: cfg(wmjc, ["whole", "center"], 0.5),
        "w+m+j+c / whole+center, damped 1": lambda: cfg(wmjc, ["whole", "center"], 1.0),
        "w+c / whole+center, damped": lambda: cfg(["whole", "center"], ["whole", "center"], 0.5),
        "style w+c / whole+center, damped": lambda: cfg(
            ["style-whole", "style-center"], ["style-whole", "style-center"], 0.5
        ),
        "inception / whole, damped": lambda: cfg(["inception"], ["inception"], 0.5),
        "mnv2 whole / whole, damped": lambda: cfg(["whole"], ["whole"], 0.5),
    }
    for name, make in configs.items():
        if args.only and args.only not in name:
            continue
        try:
            train, test, damping = make()
        except KeyError:
            continue
        report(name, items, loso(items, train, test, damping), verbose=bool(args.only))


if __name__ == "__main__":
    main()
