"""Leave-one-source-out evaluation: fit on every source but one, score the one left out, pool the scores.

Pictures from one source (a package, a collection, one photographer's crops) share a style, so a random split
puts near-twins on both sides and flatters any fitted method. Here a method is a pair of functions: ``fit``
takes the indices it may learn from and returns a ``predict`` for other indices. :func:`pooled_scores` runs it
once per source; :func:`summarise` turns the pooled scores into the figures the benchmark prints, and
:func:`choose_thresholds` picks the sort thresholds that keep the moved files right at a target precision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Indices = npt.NDArray[np.intp]
Scores = npt.NDArray[np.float64]
Predict = Callable[[Indices], Scores]
Fit = Callable[[Indices], Predict]


def pooled_scores(groups: Sequence[str], fit: Fit) -> Scores:
    """P(cartoon) for every item, each predicted by a fit that never saw the item's group."""
    keys = np.asarray(groups)
    out = np.full(len(keys), np.nan)
    for group in sorted(set(groups)):
        held = keys == group
        predict = fit(np.flatnonzero(~held))
        out[held] = predict(np.flatnonzero(held))
    return out


@dataclasses.dataclass(frozen=True)
class Summary:
    """Pooled figures: accuracy at 0.5, recall per class, accuracy per group and per kind, and the sort's
    precision (share of moved files in the right folder) and coverage (share not unsure) at its thresholds."""

    n: int
    accuracy: float
    recall: dict[str, float]
    by_group: dict[str, tuple[int, int]]
    by_kind: dict[str, tuple[int, int]]
    cartoon_above: float
    photo_below: float
    precision: float
    coverage: float


def summarise(
    scores: Scores,
    labels: npt.NDArray[np.integer],
    groups: Sequence[str],
    kinds: Sequence[str],
    cartoon_above: float,
    photo_below: float,
) -> Summary:
    """The figures of pooled ``scores`` against ``labels`` (1 = cartoon)."""
    y = np.asarray(labels).astype(bool)
    right = (scores >= 0.5) == y
    moved = (scores >= cartoon_above) | (scores <= photo_below)
    moved_right = moved & ((scores >= cartoon_above) == y)

    def tally(keys: Sequence[str]) -> dict[str, tuple[int, int]]:
        arr = np.asarray(keys)
        return {k: (int(right[arr == k].sum()), int((arr == k).sum())) for k in sorted(set(keys))}

    return Summary(
        n=len(y),
        accuracy=float(right.mean()) if len(y) else 0.0,
        recall={"cartoon": float(right[y].mean()) if y.any() else 0.0, "photo": _mean(right[~y])},
        by_group=tally(groups),
        by_kind=tally(kinds),
        cartoon_above=cartoon_above,
        photo_below=photo_below,
        precision=float(moved_right.sum() / moved.sum()) if moved.any() else 1.0,
        coverage=float(moved.mean()) if len(y) else 0.0,
    )


def _mean(values: npt.NDArray[np.bool_]) -> float:
    return float(values.mean()) if values.size else 0.0


def choose_thresholds(scores: Scores, labels: npt.NDArray[np.integer], precision: float = 0.99) -> tuple[float, float]:
    """The widest ``(cartoon_above, photo_below)`` at which each folder's files are right ``precision`` of the time.

    Each side on its own: the lowest cartoon threshold whose files at or above it are at least ``precision``
    cartoons, and the highest photo threshold whose files at or below it are at least ``precision`` photos
    (so the moved files as a whole are too). Never crosses 0.5.
    """
    y = np.asarray(labels).astype(bool)
    order = np.argsort(-scores, kind="stable")
    s, right = scores[order], y[order]
    share = np.cumsum(right) / np.arange(1, len(s) + 1)
    ok = np.flatnonzero((share >= precision) & (s >= 0.5))
    high = float(s[ok[-1]]) if ok.size else 1.0
    order = np.argsort(scores, kind="stable")
    s, right = scores[order], ~y[order]
    share = np.cumsum(right) / np.arange(1, len(s) + 1)
    ok = np.flatnonzero((share >= precision) & (s < 0.5))
    low = float(s[ok[-1]]) if ok.size else 0.0
    return high, low
