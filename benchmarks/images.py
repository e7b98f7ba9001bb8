"""Benchmark: every image method scored leave-one-source-out, beside the tutorial's functions, with speeds.

    python benchmarks/images.py [SET ...] [--no-speed]

SETs default to the development set (../shared/datasets/cartoon-photo), the training set (.bench-work/train-set,
else ../data/trainset-v3) when present, and the external set (../data/external, else .bench-work/external-set).
Files of the reserved Debian packages are never read (benchmarks/image_sets.py). Every picture's source (package
or collection) is its group: each fitted thing is fitted on every other source and scored on the one left out,
and the scores are pooled.

- `model`: the shipped recipe (codecalamity.images.recipe: a balanced ridge head on the backbone's features of
  each picture and its middle, the two scores averaged; Platt-scaled) refitted per fold; accuracy, recall per
  class, accuracy per source and per kind, and the sort's precision (moved files in the right folder) and
  coverage (share not unsure) at the shipped thresholds. The shipped head as it is
  follows: on the sources it never saw (every set but the development set) that is a fair figure too.
- `blur`, `palette`, `edges`: the threshold on each measure chosen on the other sources, beside the tutorial's
  own function with its own threshold, per source.
- speed: our methods as `calamity images evaluate` runs them (all cores, loading included) and the tutorial's
  functions as its scripts do (one image at a time, cv2.imread at full size), on the same files, medians of 3.

Backbone features and raw measures are cached per file in .bench-work/features (sha256-keyed), so reruns only
compute what is new.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tools" / "model"))

from image_sets import Item, cached, default_sets, read_sets  # noqa: E402
from tutorial_measures import TUTORIAL  # noqa: E402
from views import view_matrix  # noqa: E402

from codecalamity.images import methods  # noqa: E402
from codecalamity.images.loading import ImageError, load_image  # noqa: E402
from codecalamity.images.loso import Summary, choose_thresholds, pooled_scores, summarise  # noqa: E402
from codecalamity.images.methods.model import shipped_head  # noqa: E402
from codecalamity.images.recipe import RECIPE  # noqa: E402


def model_loso(items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled out-of-source P(cartoon) of the shipped recipe, and the shipped head's own scores."""
    train = [view_matrix(items, v) for v in RECIPE.train_views]
    test = [view_matrix(items, v) for v in RECIPE.test_views]
    rows = [np.stack([v[i] for v in train]) for i in range(len(items))]
    tests = [np.stack([v[i] for v in test]) for i in range(len(items))]
    labels = np.array([it.y for it in items])
    groups, kinds = [it.group for it in items], [it.kind for it in items]

    def fit(idx: np.ndarray):  # type: ignore[no-untyped-def]
        linear = RECIPE.fit([rows[i] for i in idx], labels[idx], [groups[i] for i in idx], [kinds[i] for i in idx])
        return lambda held: np.array([linear(tests[i]).mean() for i in held])

    raw = pooled_scores(groups, fit)
    head = shipped_head()
    a, b = RECIPE.calibrate(raw, labels)
    loso = 1 / (1 + np.exp(-np.clip(a * raw + b, -50, 50)))
    shipped = np.array([float(head.calibrated(head.raw(t[: len(head.views)]).mean())) for t in tests])
    return loso, shipped


def print_summary(title: str, s: Summary, per_group: bool = True) -> None:
    print(
        f"{title}: n {s.n}, accuracy {s.accuracy:.4f}, recall cartoon {s.recall['cartoon']:.4f} photo "
        f"{s.recall['photo']:.4f}; at thresholds {s.cartoon_above:.3f}/{s.photo_below:.3f}: precision "
        f"{s.precision:.4f}, coverage {s.coverage:.3f} (unsure {1 - s.coverage:.3f})"
    )
    if per_group:
        for key, (right, n) in s.by_group.items():
            print(f"    source {key:38} {right:5d}/{n:<5d} {right / n:7.1%}")
        for key, (right, n) in s.by_kind.items():
            print(f"    kind   {key:38} {right:5d}/{n:<5d} {right / n:7.1%}")


def model_report(items: list[Item]) -> None:
    readable = np.isfinite(view_matrix(items, "whole")).all(axis=1)
    if not readable.all():
        print(f"  ({int((~readable).sum())} unreadable files left out)")
    items = [it for it, ok in zip(items, readable, strict=True) if ok]
    labels = np.array([it.y for it in items])
    groups, kinds = [it.group for it in items], [it.kind for it in items]
    loso, shipped = model_loso(items)
    method = methods.get("model")
    high, low = choose_thresholds(loso, labels)
    print(f"== model, leave-one-source-out over {len(set(groups))} sources")
    print_summary("model LOSO", summarise(loso, labels, groups, kinds, method.cartoon_above, method.photo_below))
    print(f"  thresholds for 99 % precision on these pooled scores: cartoon >= {high:.4f}, photo <= {low:.4f}")
    unseen = np.array([it.set_name != "cartoon-photo" for it in items])
    if unseen.any():
        idx = np.flatnonzero(unseen)
        print_summary(
            "shipped head on the sources outside the development set",
            summarise(
                shipped[idx],
                labels[idx],
                [groups[i] for i in idx],
                [kinds[i] for i in idx],
                method.cartoon_above,
                method.photo_below,
            ),
        )


def raw_measures(items: Sequence[Item], name: str) -> np.ndarray:
    method = methods.get(name)

    def one(path: Path) -> np.ndarray:
        try:
            return np.array([method.raw(*load_image(path, size=method.size))], np.float32)
        except ImageError:
            return np.array([np.nan], np.float32)

    def ours(paths: Sequence[Path]) -> list[np.ndarray]:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            return list(pool.map(one, paths))

    return np.concatenate(cached(f"measure-{name}-v1", items, ours))


def tutorial_measures(items: Sequence[Item], name: str) -> np.ndarray:
    """1 where the tutorial's function says cartoon, 0 photo, -1 where it crashed (counted wrong)."""
    fn = TUTORIAL[name]

    def one(path: Path) -> np.ndarray:
        try:
            return np.array([float(fn(path)[0])], np.float32)
        except Exception:  # the tutorial's code crashes on some files (e.g. GIF, odd modes)
            return np.array([-1.0], np.float32)

    def run(paths: Sequence[Path]) -> list[np.ndarray]:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            return list(pool.map(one, paths))

    return np.concatenate(cached(f"tutorial-{name}-v1", items, run))


def best_cut(raw: np.ndarray, y: np.ndarray, cartoon_high: bool) -> float:
    """The cut on a raw measure with the best class-balanced accuracy (cartoon on the ``cartoon_high`` side)."""
    values = np.unique(np.quantile(raw, np.linspace(0.005, 0.995, 400)))
    best = (-1.0, float(values[0]))
    for v in values:
        says = raw >= v if cartoon_high else raw <= v
        balanced = 0.5 * (says[y == 1].mean() + (~says[y == 0]).mean())
        best = max(best, (float(balanced), float(v)))
    return best[1]


def measures_report(items: list[Item]) -> None:
    labels = np.array([it.y for it in items])
    groups = [it.group for it in items]
    print(f"== the three measures, leave-one-source-out cut beside the tutorial's function ({len(items)} images)")
    for name in ("edges", "palette", "blur"):
        method = methods.get(name)
        raw = raw_measures(items, name)
        ok = np.isfinite(raw)
        high = method.slope > 0

        def fit(idx: np.ndarray, raw: np.ndarray = raw, ok: np.ndarray = ok, high: bool = high):  # type: ignore[no-untyped-def]
            use = idx[ok[idx]]
            cut = best_cut(raw[use], labels[use], high)
            return lambda held: ((raw[held] >= cut) if high else (raw[held] <= cut)).astype(float)

        loso = pooled_scores(groups, fit)
        shipped = ((raw >= method.threshold) if high else (raw <= method.threshold)).astype(float)
        tut = tutorial_measures(items, name)
        right_loso = (loso >= 0.5) == labels
        right_shipped = ok & ((shipped >= 0.5) == labels)
        right_tut = tut == labels
        print(
            f"{name}: LOSO cut {right_loso.mean():.4f}, shipped cut {method.threshold:.4g} "
            f"{right_shipped.mean():.4f}, tutorial {right_tut.mean():.4f}; cut on all sources "
            f"{best_cut(raw[ok], labels[ok], high):.4g}"
        )
        keys = np.array(groups)
        for group in sorted(set(groups)):
            g = keys == group
            print(
                f"    {group:38} n {g.sum():5d}  LOSO {right_loso[g].mean():6.1%}  shipped "
                f"{right_shipped[g].mean():6.1%}  tutorial {right_tut[g].mean():6.1%}"
            )


def speed_report(items: list[Item], sample: int) -> None:
    rng = np.random.default_rng(0)
    chosen = [items[i] for i in sorted(rng.choice(len(items), min(sample, len(items)), replace=False))]
    print(f"== speed on {len(chosen)} files (medians of 3 runs; load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        for i, item in enumerate(chosen):
            folder = Path(tmp) / item.label
            folder.mkdir(exist_ok=True)
            (folder / f"{i}{item.path.suffix}").symlink_to(item.path)
        for name in ("model", "blur", "palette", "edges"):
            ours = []
            for _ in range(3):
                out = subprocess.run(
                    [sys.executable, "-m", "codecalamity", "images", "evaluate", tmp, "--method", name, "--json"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                ours.append(json.loads(out)["methods"][name]["images_per_second"])
            line = f"  {name:8} ours {sorted(ours)[1]:7.1f} images/s"
            if name in TUTORIAL:
                runs = []
                for _ in range(3):
                    started = time.perf_counter()
                    for item in chosen:
                        try:
                            TUTORIAL[name](item.path)
                        except Exception:  # counted, as in its accuracy, but not timed apart
                            pass
                    runs.append(len(chosen) / (time.perf_counter() - started))
                tut = sorted(runs)[1]
                line += f", tutorial {tut:7.1f} images/s (x{sorted(ours)[1] / tut:.1f})"
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", type=Path, help="labeled sets (folders with manifest.csv)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed runs")
    parser.add_argument("--no-measures", action="store_true", help="skip the three measures")
    parser.add_argument("--no-model", action="store_true", help="skip the model")
    parser.add_argument("--sample", type=int, default=300, help="files in the speed runs")
    args = parser.parse_args()
    roots = args.sets or default_sets()
    items = read_sets(roots)
    print(f"{len(items)} images from {', '.join(str(r) for r in roots)}", flush=True)
    if not args.no_model:
        model_report(items)
    if not args.no_measures:
        measures_report(items)
    if not args.no_speed:
        speed_report(items, args.sample)


if __name__ == "__main__":
    main()
