"""Benchmark: each method's accuracy, recalls and images/s on a labeled folder, beside the tutorial's functions.

    python benchmarks/images.py [DIR] [--no-external] [--external-only]

DIR defaults to ../shared/datasets/cartoon-photo: the model is measured on the split it never trained on, the
measures on the whole folder. Then the same on the external set (benchmarks/external_set.py builds it from
Debian packages the development set and the model never saw; all of it is unseen), with the model's accuracy
per source and its calibration there.

Our methods run as `calamity images evaluate` does (all cores, loading included); the tutorial's functions run
as its scripts do (one image at a time, cv2.imread at full size), in the same run on the same files. Also
prints, for each measure, the logistic slope that best calibrates its score on this folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from external_set import ensure as external_set  # noqa: E402
from tutorial_measures import TUTORIAL  # noqa: E402

from codecalamity.images import methods  # noqa: E402
from codecalamity.images.classifier import classify_many  # noqa: E402
from codecalamity.images.evaluate import calibration, evaluate_method, labeled_files  # noqa: E402
from codecalamity.images.loading import load_image  # noqa: E402


def tutorial_report(name: str, files: list[tuple[Path, str]]) -> tuple[float, float, float, float]:
    fn = TUTORIAL[name]
    started = time.perf_counter()
    hits = {"cartoon": [0, 0], "photo": [0, 0]}
    for path, label in files:
        try:
            cartoon, _ = fn(path)
        except Exception:  # the tutorial's code crashes on some files: count those as wrong
            cartoon = label != "cartoon"
        hits[label][0] += (label == "cartoon") == bool(cartoon)
        hits[label][1] += 1
    elapsed = time.perf_counter() - started
    accuracy = (hits["cartoon"][0] + hits["photo"][0]) / len(files)
    return accuracy, hits["cartoon"][0] / hits["cartoon"][1], hits["photo"][0] / hits["photo"][1], len(files) / elapsed


def fitted_slope(name: str, files: list[tuple[Path, str]]) -> float:
    method = methods.get(name)
    raws = [(method.raw(*load_image(p, size=method.size)), label == "cartoon") for p, label in files]
    best = (math.inf, 0.0)
    sign = 1 if method.slope > 0 else -1
    for exponent in range(-20, 61):
        slope = sign * 10 ** (exponent / 10)
        loss = 0.0
        for raw, is_cartoon in raws:
            z = max(-30.0, min(30.0, slope * (raw - method.threshold)))
            p = 1 / (1 + math.exp(-z))
            loss -= math.log(p if is_cartoon else 1 - p)
        best = min(best, (loss / len(raws), slope))
    return best[1]


def model_run(folder: Path, what: str) -> None:
    """The model over a labeled folder through `calamity images evaluate`: median speed of 3 runs, peak RSS."""
    runs = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run(
            [sys.executable, "-m", "codecalamity", "images", "evaluate", str(folder), "--method", "model", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        runs.append((json.loads(out)["methods"]["model"], peak))
    report = sorted(runs, key=lambda r: r[0]["images_per_second"])[1][0]
    peak_mb = max(r[1] for r in runs) / 1024
    print(
        f"model on {what}: accuracy {report['accuracy']:.3f}, recall cartoon "
        f"{report['recall']['cartoon']:.3f}, photo {report['recall']['photo']:.3f}, unsure {report['unsure']:.3f}, "
        f"{report['images_per_second']:.1f} images/s (median of 3, decoding included), peak RSS {peak_mb:.0f} MB"
    )


def model_report(root: Path) -> None:
    """The model on the split it never trained on (the seed-0 20 % held out by tools/model/train_head.py)."""
    import numpy as np

    from codecalamity.images.train import _split, labeled

    paths, labels = labeled(root)
    held = _split(labels, 0.2, np.random.default_rng(0))
    with tempfile.TemporaryDirectory() as tmp:
        for index in np.flatnonzero(held):
            folder = Path(tmp) / ("cartoon" if labels[index] else "photo")
            folder.mkdir(exist_ok=True)
            (folder / f"{index}{paths[index].suffix}").symlink_to(paths[index])
        model_run(Path(tmp), f"the {int(held.sum())} held-out images")


def measures_report(files: list[tuple[Path, str]]) -> None:
    print(f"{'method':10} {'who':9} {'accuracy':>8} {'rec.cart':>8} {'rec.photo':>9} {'img/s':>8}  ratio")
    for name in ("blur", "palette", "edges"):
        runs = [evaluate_method(name, files) for _ in range(3)]
        ours = sorted(runs, key=lambda r: r.images_per_second)[1]
        acc, rc, rp, speed = tutorial_report(name, files)
        print(f"{name:10} {'tutorial':9} {acc:8.3f} {rc:8.3f} {rp:9.3f} {speed:8.1f}")
        print(
            f"{name:10} {'ours':9} {ours.accuracy:8.3f} {ours.recall['cartoon']:8.3f} {ours.recall['photo']:9.3f} "
            f"{ours.images_per_second:8.1f}  accuracy {ours.accuracy - acc:+.3f}, "
            f"speed x{ours.images_per_second / speed:.1f}"
        )
        print(
            f"{'':10} calibration: fitted slope {fitted_slope(name, files):.4g} (shipped {methods.get(name).slope:g})"
        )


def external_report(root: Path, files: list[tuple[Path, str]]) -> None:
    """The model per source of the external set (all unseen), and how well its scores are calibrated there."""
    manifest = {row["file"]: row for row in csv.DictReader(open(root / "manifest.csv"))}
    model = methods.get("model")
    groups: dict[str, list[bool]] = {}
    scores: dict[str, list[float]] = {"cartoon": [], "photo": []}
    for result in classify_many([p for p, _ in files], "model", model.cartoon_above, model.photo_below):
        entry = manifest[result.path.relative_to(root).as_posix()]
        if result.verdict is None:
            raise SystemExit(f"{result.path}: {result.error}")
        score = result.verdict.score
        scores[entry["label"]].append(score)
        key = f"{entry['label']:7} {entry['source_package']} {entry['part']}"
        groups.setdefault(key, []).append((score >= 0.5) == (entry["label"] == "cartoon"))
    print("model per source (right at score 0.5):")
    for key, hits in sorted(groups.items()):
        print(f"  {key:40} {sum(hits):4d}/{len(hits):<4d} {sum(hits) / len(hits):6.1%}")
    print("model calibration by score bin: mean score, share that were drawn, images")
    for mean, share, count in calibration(scores):
        print(f"  {mean:.3f}  {share:.3f}  {count:4d}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "dataset", nargs="?", type=Path, default=HERE.parent.parent / "shared" / "datasets" / "cartoon-photo"
    )
    parser.add_argument("--no-external", action="store_true", help="skip the external set")
    parser.add_argument("--external-only", action="store_true", help="only the external set")
    args = parser.parse_args()
    if not args.external_only:
        files = labeled_files(args.dataset)
        print(f"== development set: {len(files)} images in {args.dataset}")
        model_report(args.dataset)
        measures_report(files)
    if not args.no_external:
        root = external_set()
        files = labeled_files(root)
        print(f"== external set (never trained on): {len(files)} images in {root}")
        model_run(root, f"all {len(files)} external images")
        external_report(root, files)
        measures_report(files)


if __name__ == "__main__":
    main()
