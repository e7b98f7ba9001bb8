"""``evaluate``: every method's accuracy, recall per class, confusion, unsure share and speed on a labeled folder."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from codecalamity._errors import UsageError
from codecalamity.images import methods
from codecalamity.images.classify import Result, classify_many, find_images

LABELS = ("cartoon", "photo")


@dataclasses.dataclass
class MethodReport:
    """How one method did on a labeled folder (accuracy at a 0.5 score threshold)."""

    name: str
    n: int
    accuracy: float
    recall: dict[str, float]
    confusion: dict[str, dict[str, int]]
    unsure: float
    images_per_second: float
    scores: dict[str, list[float]]
    failed: list[tuple[str, str]]


def labeled_files(root: Path) -> list[tuple[Path, str]]:
    """``(path, label)`` for every image under ``root/cartoon`` and ``root/photo`` (any depth)."""
    found = []
    for label in LABELS:
        folder = root / label
        if not folder.is_dir():
            raise UsageError(f"{root} has no {label}/ folder (expected {root}/cartoon and {root}/photo)")
        found += [(path, label) for path in find_images([folder])]
    if not found:
        raise UsageError(f"no images under {root}/cartoon or {root}/photo")
    return found


def evaluate_method(name: str, files: list[tuple[Path, str]], workers: int | None = None) -> MethodReport:
    """Run one method over labeled files and score it."""
    method = methods.get(name)
    truth = {path: label for path, label in files}
    started = time.perf_counter()
    results: list[Result] = list(
        classify_many([p for p, _ in files], name, method.cartoon_above, method.photo_below, workers=workers)
    )
    elapsed = time.perf_counter() - started
    scores: dict[str, list[float]] = {label: [] for label in LABELS}
    confusion = {t: {p: 0 for p in LABELS} for t in LABELS}
    unsure = 0
    failed = []
    for result in results:
        if result.verdict is None:
            failed.append((str(result.path), result.error or ""))
            continue
        actual = truth[result.path]
        scores[actual].append(result.verdict.score)
        confusion[actual]["cartoon" if result.verdict.score >= 0.5 else "photo"] += 1
        unsure += result.verdict.label == "unsure"
    n = sum(len(v) for v in scores.values())
    correct = confusion["cartoon"]["cartoon"] + confusion["photo"]["photo"]
    recall = {label: confusion[label][label] / max(1, len(scores[label])) for label in LABELS}
    return MethodReport(
        name=name,
        n=n,
        accuracy=correct / max(1, n),
        recall=recall,
        confusion=confusion,
        unsure=unsure / max(1, n),
        images_per_second=len(results) / elapsed if elapsed > 0 else 0.0,
        scores=scores,
        failed=failed,
    )


def summary_json(reports: list[MethodReport]) -> dict[str, object]:
    """The ``--json`` shape: ``{"n": N, "methods": {NAME: {...}}}``."""
    return {
        "n": max((r.n for r in reports), default=0),
        "methods": {
            r.name: {
                "accuracy": round(r.accuracy, 4),
                "recall": {k: round(v, 4) for k, v in r.recall.items()},
                "unsure": round(r.unsure, 4),
                "images_per_second": round(r.images_per_second, 1),
                "confusion": r.confusion,
                "failed": len(r.failed),
            }
            for r in reports
        },
    }


def plot(reports: list[MethodReport], out: Path) -> None:
    """Score histograms per class and method, with the sort thresholds drawn, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(reports), 1, figsize=(8, 2.6 * len(reports)), squeeze=False)
    bins = [i / 40 for i in range(41)]
    for ax, report in zip(axes[:, 0], reports, strict=True):
        method = methods.get(report.name)
        ax.hist(report.scores["photo"], bins=bins, alpha=0.6, label=f"photo (n={len(report.scores['photo'])})")
        ax.hist(report.scores["cartoon"], bins=bins, alpha=0.6, label=f"cartoon (n={len(report.scores['cartoon'])})")
        for x, style in ((method.photo_below, "--"), (0.5, ":"), (method.cartoon_above, "--")):
            ax.axvline(x, color="k", linestyle=style, linewidth=1)
        ax.set_title(
            f"{report.name}: accuracy {report.accuracy:.1%}, recall cartoon {report.recall['cartoon']:.1%} / "
            f"photo {report.recall['photo']:.1%}, unsure {report.unsure:.1%}",
            fontsize=9,
        )
        ax.set_xlabel("score = P(cartoon)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
