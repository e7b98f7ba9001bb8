"""A class-balanced ridge classifier fitted from sufficient statistics, so leave-one-source-out is cheap.

For each (source, class) cell, or (source, class, kind) cell where the pictures' kinds are known, the sums
``n, sum x, sum x x^T, sum t x, sum t`` (targets ``t = +-1``) are taken once; a fold's fit adds the cells it may
use, each weighted (classes balanced, large cells damped), standardises, and solves ``(C + l2 I) w = c`` for each
regularisation strength. Scores are the linear outputs; Platt scaling
(:func:`codecalamity.images.train.fit_platt`) turns them into probabilities.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclasses.dataclass
class Cell:
    """The sums of one (group, class) cell's rows."""

    count: float
    sx: Array
    sxx: Array
    sxt: Array
    st: float


@dataclasses.dataclass(frozen=True)
class Linear:
    """``z = ((x - mean) / scale) @ weights + bias``."""

    mean: Array
    scale: Array
    weights: Array
    bias: float

    def __call__(self, x: npt.NDArray[np.floating]) -> Array:
        return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias, dtype=np.float64)


Key = tuple[str, int, str]
# a cell: (group, label, kind)


def cells(
    rows: Sequence[npt.NDArray[np.floating]],
    labels: Sequence[int],
    groups: Sequence[str],
    kinds: Sequence[str] | None = None,
) -> dict[Key, Cell]:
    """The sums per (group, label, kind) of every item's rows (``rows[i]`` is an ``r x d`` array); without
    ``kinds``, one cell per (group, label)."""
    out: dict[Key, Cell] = {}
    order: dict[Key, list[int]] = {}
    for i, key in enumerate(zip(groups, labels, kinds or [""] * len(groups), strict=True)):
        order.setdefault(key, []).append(i)
    for key, members in order.items():
        x = np.concatenate([rows[i] for i in members]).astype(np.float64)
        t = 1.0 if key[1] else -1.0
        out[key] = Cell(float(len(x)), x.sum(axis=0), x.T @ x, t * x.sum(axis=0), t * len(x))
    return out


def fit(parts: dict[Key, Cell], use: set[str], l2: Sequence[float], damping: float = 0.0) -> list[Linear]:
    """One ridge fit per ``l2`` on the cells of the groups in ``use``.

    Classes weigh the same in total; within a class, a cell of ``n`` rows weighs ``n ** -damping`` per row
    (0: every row alike; 0.5: large sources, and large kinds within a source, count less).
    """
    chosen = {k: c for k, c in parts.items() if k[0] in use}
    per_class = {label: sum(c.count ** (1 - damping) for k, c in chosen.items() if k[1] == label) for label in (0, 1)}
    d = next(iter(chosen.values())).sx.shape[0]
    sw, st = 0.0, 0.0
    sx, sxt = np.zeros(d), np.zeros(d)
    sxx = np.zeros((d, d))
    for (_, label, _), c in chosen.items():
        w = c.count**-damping / max(per_class[label], 1e-12)
        sw += w * c.count
        st += w * c.st
        sx += w * c.sx
        sxt += w * c.sxt
        sxx += w * c.sxx
    mean = sx / sw
    cov = sxx / sw - np.outer(mean, mean)
    scale = np.sqrt(np.clip(np.diag(cov), 0, None)) + 1e-6
    cov_s = cov / np.outer(scale, scale)
    cross = (sxt / sw - mean * st / sw) / scale
    bias = st / sw
    eye = np.eye(d)
    return [Linear(mean, scale, np.asarray(np.linalg.solve(cov_s + lam * eye, cross), np.float64), bias) for lam in l2]
