"""``evaluate``: every method's accuracy, recall per class, confusion, unsure share and speed on a labeled folder."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from codecalamity._errors import UsageError
from codecalamity.images import methods
from codecalamity.images.classifier import Result, classify_many, find_images

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

    fig, axes = plt.subplots(
        len(reports), 2, figsize=(11, 2.8 * len(reports)), squeeze=False, gridspec_kw={"width_ratios": [3, 1.2]}
    )
    bins = [i / 40 for i in range(41)]
    for (ax, cal), report in zip(axes, reports, strict=True):
        _calibration(cal, report)
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


def calibration(scores: dict[str, list[float]], bins: int = 10) -> list[tuple[float, float, int]]:
    """Reliability of scores by true label: for each score bin with images, (mean score, share that were
    cartoons, count)."""
    pairs = [(s, 1.0) for s in scores["cartoon"]] + [(s, 0.0) for s in scores["photo"]]
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(s, y) for s, y in pairs if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if inside:
            out.append((sum(s for s, _ in inside) / len(inside), sum(y for _, y in inside) / len(inside), len(inside)))
    return out


def _calibration(ax: object, report: MethodReport) -> None:
    points = calibration(report.scores)
    ax.plot([0, 1], [0, 1], color="0.7", linewidth=1)  # type: ignore[attr-defined]
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=[8 + p[2] for p in points])  # type: ignore[attr-defined]
    ax.set_title("calibration (dot size: images)", fontsize=8)  # type: ignore[attr-defined]
    ax.set_xlabel("score", fontsize=8)  # type: ignore[attr-defined]
    ax.set_ylabel("share that were cartoons", fontsize=8)  # type: ignore[attr-defined]
    ax.set_xlim(0, 1)  # type: ignore[attr-defined]
    ax.set_ylim(0, 1)  # type: ignore[attr-defined]
