"""Benchmark: each method's accuracy, recalls and images/s on a labeled folder, beside the tutorial's functions.

    python benchmarks/images.py [DIR]      (default: ../shared/datasets/cartoon-photo)

Our methods run as `calamity images evaluate` does (all cores, loading included); the tutorial's functions run
as its scripts do (one image at a time, cv2.imread at full size), in the same run on the same files. Also
prints, for each measure, the logistic slope that best calibrates its score on this folder.
"""

from __future__ import annotations

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

from tutorial_measures import TUTORIAL  # noqa: E402

from codecalamity.images import methods  # noqa: E402
from codecalamity.images.evaluate import evaluate_method, labeled_files  # noqa: E402
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
        runs = []
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            out = subprocess.run(
                [sys.executable, "-m", "codecalamity", "images", "evaluate", tmp, "--method", "model", "--json"],
                capture_output=True,
                text=True,
                check=True,
            )
            peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            runs.append((json.loads(out.stdout)["methods"]["model"], peak))
    report = sorted(runs, key=lambda r: r[0]["images_per_second"])[1][0]
    peak_mb = max(r[1] for r in runs) / 1024
    print(
        f"model on the {int(held.sum())} held-out images: accuracy {report['accuracy']:.3f}, recall cartoon "
        f"{report['recall']['cartoon']:.3f}, photo {report['recall']['photo']:.3f}, "
        f"{report['images_per_second']:.1f} images/s (median of 3, decoding included), peak RSS {peak_mb:.0f} MB"
    )


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "datasets" / "cartoon-photo"
    files = labeled_files(root)
    print(f"{len(files)} images in {root}")
    model_report(root)
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


if __name__ == "__main__":
    main()
