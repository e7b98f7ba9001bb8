"""``calamity images train``: a new head on the shipped features, from folders of hand-picked examples.

The tutorial's workflow (``DIR/cartoon`` and ``DIR/photo``), in minutes on a CPU: the backbone turns every image
(its mirror image, and a JPEG copy) into features once, beside the texture statistics; the head's recipe
(:mod:`codecalamity.images.recipe`: a class-balanced ridge classifier) is fitted on a stratified training split;
Platt scaling and the sort thresholds come from 5-fold out-of-fold scores on that split; the held-out split's
accuracy is reported.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from codecalamity._errors import UsageError
from codecalamity.images.classifier import find_images
from codecalamity.images.loading import ImageError, load_image
from codecalamity.images.methods.model import FEATURES, Head, features, to_input, view_inputs

MIN_PER_CLASS = 8
FOLDS = 5
Array = npt.NDArray[np.float64]


@dataclasses.dataclass
class TrainReport:
    """What training did and how the head does on the held-out split."""

    n_train: int
    n_validation: int
    l2: float
    accuracy: float
    recall: dict[str, float]
    head: Head


def labeled(root: Path) -> tuple[list[Path], npt.NDArray[np.int8]]:
    """Every image under ``root/cartoon`` (label 1) and ``root/photo`` (label 0); a clear error if unusable."""
    paths: list[Path] = []
    labels: list[int] = []
    missing = [label for label in ("cartoon", "photo") if not (root / label).is_dir()]
    if missing:
        raise UsageError(f"{root} needs a cartoon/ and a photo/ folder of examples (no {missing[0]}/ folder)")
    for label, value in (("cartoon", 1), ("photo", 0)):
        folder = root / label
        found = find_images([folder])
        if len(found) < MIN_PER_CLASS:
            raise UsageError(f"{folder} has {len(found)} image(s); give at least {MIN_PER_CLASS} per class")
        paths += found
        labels += [value] * len(found)
    return paths, np.array(labels, dtype=np.int8)


def _variants(path: Path, size: int, jpeg: bool, rng: np.random.Generator) -> list[npt.NDArray[np.float32]]:
    """Backbone inputs of one picture: the recipe's training views (its test views first), and (``jpeg``) a JPEG
    copy, so that compression artefacts are no hint of the class."""
    from codecalamity.images.recipe import RECIPE

    image, _ = load_image(path, size=2 * size, background=(RECIPE.background,) * 3)
    out = view_inputs(image, size, RECIPE.train_views)
    if jpeg:
        rgb = (out[0].transpose(1, 2, 0) * 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=int(rng.integers(60, 95)))
        again, _ = load_image(buf.getvalue())
        out.append(to_input(again, size))
    return out


def extract(
    paths: list[Path],
    size: int,
    *,
    jpeg: bool = False,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[npt.NDArray[np.float32]], list[tuple[Path, str]]]:
    """Backbone features of each image's variants (one array per image: the recipe's test views first, then the
    augmentations), and the files that could not be read."""
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31, len(paths))
    failed: list[tuple[Path, str]] = []

    def one(item: tuple[Path, int]) -> list[npt.NDArray[np.float32]] | None:
        path, s = item
        try:
            return _variants(path, size, jpeg, np.random.default_rng(s))
        except ImageError as err:
            failed.append((path, str(err)))
            return None

    out: list[npt.NDArray[np.float32]] = []
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for variants in pool.map(one, zip(paths, seeds, strict=True)):
            out.append(features(np.stack(variants)) if variants is not None else np.zeros((0, FEATURES), np.float32))
            if progress is not None:
                progress(1)
    return out, failed


def fit_platt(z: Array, y: Array) -> tuple[float, float]:
    """The ``a, b`` of ``sigmoid(a * z + b)`` that best fit labels ``y`` (Platt's targets avoid 0/1 overfit)."""
    pos, neg = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y > 0, (pos + 1) / (pos + 2), 1 / (neg + 2))
    x = np.stack([z, np.ones_like(z)], axis=1)
    ab = np.array([1.0, 0.0])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ ab, -50, 50)))
        grad = x.T @ (p - t)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        ab -= step
        if np.abs(step).max() < 1e-9:
            break
    return float(ab[0]), float(ab[1])


def _split(labels: npt.NDArray[np.int8], fraction: float, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """A stratified held-out mask."""
    held = np.zeros(len(labels), dtype=bool)
    for value in (0, 1):
        idx = np.flatnonzero(labels == value)
        rng.shuffle(idx)
        held[idx[: max(1, round(fraction * len(idx)))]] = True
    return held


def fit_head(
    feats: list[npt.NDArray[np.float32]],
    labels: npt.NDArray[np.int8],
    size: int,
    *,
    seed: int = 0,
    validation: float = 0.2,
    groups: list[str] | None = None,
    info: str = "",
) -> TrainReport:
    """Fit and calibrate a head on per-image feature arrays (first the recipe's test views, then augmentations);
    report on the held-out split (none when ``validation`` is 0).

    ``groups`` (a source per image) make the calibration folds leave one source out; without them, 5 random
    folds by image. The out-of-fold scores fit the Platt scaling and choose the sort thresholds.
    """
    from codecalamity.images.loso import choose_thresholds, pooled_scores
    from codecalamity.images.recipe import RECIPE

    rng = np.random.default_rng(seed)
    held = _split(labels, validation, rng) if validation > 0 else np.zeros(len(labels), dtype=bool)
    train_idx = np.flatnonzero(~held)
    rows = [feats[i] for i in train_idx]
    y = labels[train_idx]
    folds = [groups[i] for i in train_idx] if groups is not None else [str(k % FOLDS) for k in rng.permutation(len(y))]

    k = len(RECIPE.test_views)

    def fit(idx: npt.NDArray[np.intp]):  # type: ignore[no-untyped-def]
        linear = RECIPE.fit([rows[i] for i in idx], y[idx], [folds[i] for i in idx])
        return lambda out: np.array([float(linear(rows[i][:k]).mean()) for i in out])

    oof = pooled_scores(folds, fit)
    a, c = RECIPE.calibrate(oof, y)
    linear = RECIPE.fit(rows, y, folds)
    probs = 1.0 / (1.0 + np.exp(-np.clip(a * oof + c, -50, 50)))
    high, low = choose_thresholds(probs, y)
    head = Head(
        linear.mean.astype(np.float32),
        linear.scale.astype(np.float32),
        linear.weights.astype(np.float32),
        linear.bias,
        a,
        c,
        size,
        info,
        views=RECIPE.test_views,
        cartoon_above=high,
        photo_below=low,
        background=RECIPE.background,
    )
    held_idx = np.flatnonzero(held)
    probs = np.array([head.calibrated(head.raw(feats[i][:k]).mean()) for i in held_idx])  # not the augmentations
    truth = labels[held_idx]
    pred = (probs >= 0.5).astype(np.int8)
    recall = {
        "cartoon": float((pred[truth == 1] == 1).mean()) if (truth == 1).any() else 0.0,
        "photo": float((pred[truth == 0] == 0).mean()) if (truth == 0).any() else 0.0,
    }
    accuracy = float((pred == truth).mean()) if len(truth) else 0.0
    return TrainReport(len(train_idx), len(held_idx), RECIPE.l2, accuracy, recall, head)


def train(
    root: Path,
    out: Path,
    *,
    size: int = 224,
    seed: int = 0,
    jpeg: bool = False,
    progress: Callable[[int], None] | None = None,
    on_count: Callable[[int], None] | None = None,
) -> TrainReport:
    """Train a head on ``root/cartoon`` and ``root/photo`` and write it to ``out``."""
    paths, labels = labeled(root)
    if on_count is not None:
        on_count(len(paths))
    feats, failed = extract(paths, size, jpeg=jpeg, seed=seed, progress=progress)
    if failed:
        listing = "; ".join(f"{p}: {why}" for p, why in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise UsageError(f"{len(failed)} training image(s) cannot be read, remove them: {listing}{more}")
    report = fit_head(feats, labels, size, seed=seed, info=f"trained on {root.name}: {len(paths)} images")
    report.head.save(out)
    return report
