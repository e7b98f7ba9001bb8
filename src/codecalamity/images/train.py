"""``calamity images train``: a new head on the shipped features, from folders of hand-picked examples.

The tutorial's workflow (``DIR/cartoon`` and ``DIR/photo``), in minutes on a CPU: the backbone turns every image
(and its mirror image) into 1280 features once; an L2-regularised logistic regression is fitted by Newton's
method on a stratified training split; Platt scaling, fitted on out-of-fold scores, calibrates it; the held-out
split's accuracy is reported.
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
from codecalamity.images.methods.model import FEATURES, Head, features, to_input

MIN_PER_CLASS = 8
L2_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
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
    image, _ = load_image(path, size=size)
    base = to_input(image, size)
    out = [base, np.ascontiguousarray(base[:, :, ::-1])]  # and its mirror image
    if jpeg:  # the same picture as a JPEG, so that compression artefacts are no hint of the class
        rgb = (base.transpose(1, 2, 0) * 255).astype(np.uint8)
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
    """Features of each image's variants (one array per image), and the files that could not be read."""
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


def fit_logistic(x: Array, y: Array, sample_weight: Array, l2: float) -> tuple[Array, float]:
    """Weighted, L2-regularised logistic regression by Newton's method (the bias is not regularised)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    total = sample_weight.sum()
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (sample_weight * (p - y)) / total + reg * w
        hess = (xb * (sample_weight * p * (1 - p))[:, None]).T @ xb / total + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


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
    l2_grid: tuple[float, ...] = L2_GRID,
    info: str = "",
) -> TrainReport:
    """Fit and calibrate a head on per-image feature arrays; report on the held-out split.

    The regularisation strength is chosen by 5-fold cross-validation on the training split only (log-loss of
    the out-of-fold scores); those same out-of-fold scores calibrate the head (Platt scaling).
    """
    rng = np.random.default_rng(seed)
    held = _split(labels, validation, rng)
    train_idx = np.flatnonzero(~held)
    rows = np.concatenate([feats[i] for i in train_idx]).astype(np.float64)
    y = np.concatenate([np.full(len(feats[i]), labels[i], dtype=np.float64) for i in train_idx])
    group = np.concatenate([np.full(len(feats[i]), i) for i in train_idx])
    mean, scale = rows.mean(axis=0), rows.std(axis=0) + 1e-6
    x = (rows - mean) / scale
    balance = {v: len(y) / (2.0 * max(1.0, float((y == v).sum()))) for v in (0.0, 1.0)}
    weight = np.array([balance[v] for v in y])
    # out-of-fold scores for calibration: 5 folds by image, so an image's variants stay together
    folds = rng.permutation(train_idx) % 5
    fold_of = dict(zip(train_idx, folds, strict=True))
    row_fold = np.array([fold_of[g] for g in group])
    best: tuple[float, float, Array] | None = None
    for l2 in l2_grid:
        oof = np.zeros(len(y))
        for k in range(5):
            fit_rows = row_fold != k
            w_k, b_k = fit_logistic(x[fit_rows], y[fit_rows], weight[fit_rows], l2)
            oof[~fit_rows] = x[~fit_rows] @ w_k + b_k
        a_l2, c_l2 = fit_platt(oof, y)
        p = 1.0 / (1.0 + np.exp(-np.clip(a_l2 * oof + c_l2, -50, 50)))
        loss = float(-(weight * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).mean())
        if best is None or loss < best[0]:
            best = (loss, l2, oof)
    assert best is not None
    _, l2, oof = best
    w, b = fit_logistic(x, y, weight, l2)
    a, c = fit_platt(oof, y)
    head = Head(mean.astype(np.float32), scale.astype(np.float32), w.astype(np.float32), b, a, c, size, info)
    held_idx = np.flatnonzero(held)
    probs = np.array([head.probability(feats[i][:1])[0] for i in held_idx])  # the image itself, not its variants
    truth = labels[held_idx]
    pred = (probs >= 0.5).astype(np.int8)
    recall = {
        "cartoon": float((pred[truth == 1] == 1).mean()),
        "photo": float((pred[truth == 0] == 0).mean()),
    }
    return TrainReport(len(train_idx), len(held_idx), l2, float((pred == truth).mean()), recall, head)


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
