"""How the model's head is made: which views of a picture it learns from and predicts on, and how it is fitted.

One recipe serves ``calamity images train``, ``tools/model/train_head.py`` (the shipped head) and the
leave-one-source-out benchmark, so the figure the benchmark prints is the figure of the head that ships.
Every lever in it was kept because it paid by leave-one-source-out (ORIGIN.md beside the model has the table).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from codecalamity.images import ridge
from codecalamity.images.train import fit_platt

Array = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The head's training views, prediction views, regularisation and source damping."""

    train_views: tuple[str, ...]
    """Backbone views each training picture contributes, the test views first (``mirror`` and ``jpeg`` copies
    were measured as augmentation and did not pay)."""
    test_views: tuple[str, ...]
    """Views whose linear scores are averaged at prediction time (multi-crop: ``whole``, ``center``)."""
    l2: float
    """Ridge regularisation on standardised features, chosen by leave-one-source-out."""
    damping: float
    """A source of ``n`` pictures weighs ``n ** -damping`` per picture, so one big source does not rule; where
    the pictures' kinds are known, each kind within a source is damped on its own."""
    background: int
    """The grey level that transparent pixels are composited onto before the backbone sees them."""

    def fit(
        self,
        rows: Sequence[npt.NDArray[np.floating]],
        labels: npt.NDArray[np.integer],
        groups: Sequence[str],
        kinds: Sequence[str] | None = None,
    ) -> ridge.Linear:
        """The linear head on every picture's rows (one row per training view)."""
        parts = ridge.cells(rows, [int(v) for v in labels], groups, kinds)
        (linear,) = ridge.fit(parts, set(groups), [self.l2], self.damping)
        return linear

    @staticmethod
    def calibrate(raw: Array, labels: npt.NDArray[np.integer]) -> tuple[float, float]:
        """Platt's ``a, b`` from out-of-source raw scores."""
        return fit_platt(np.asarray(raw, np.float64), np.asarray(labels, np.float64))


RECIPE = Recipe(train_views=("whole", "center"), test_views=("whole", "center"), l2=3.0, damping=0.3, background=128)
