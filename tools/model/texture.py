"""Texture and camera-noise statistics: what a photograph's pixels carry that a drawing's lack.

A camera leaves sensor noise in every flat area and blends neighbouring pixels when it demosaics; a drawing has
exactly flat fills, hard outlines and few colours. These cheap numbers (a few milliseconds per image, OpenCV and
numpy) sit beside the backbone's features in the model's head.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from codecalamity.images.types import BGRImage

SIDE = 256
NAMES = (
    "residual_sd",
    "residual_zero",
    "residual_big",
    "residual_rg_corr",
    "gradient_zero",
    "gradient_p50",
    "gradient_p90",
    "gradient_p99",
    "laplacian_log_var",
    "unique_colours",
    "top16_cover",
    "saturation_mean",
    "saturation_sd",
    "grey_entropy",
    "clipped",
    "hue_entropy",
)
COUNT = len(NAMES)


def statistics(image: BGRImage) -> npt.NDArray[np.float32]:
    """:data:`COUNT` numbers for one loaded image (its central ``SIDE`` x ``SIDE`` pixels, resized if smaller)."""
    h, w = image.shape[:2]
    if min(h, w) < SIDE:
        scale = SIDE / min(h, w)
        image = cv2.resize(image, (max(SIDE, round(w * scale)), max(SIDE, round(h * scale))))
        h, w = image.shape[:2]
    top, left = (h - SIDE) // 2, (w - SIDE) // 2
    crop = np.ascontiguousarray(image[top : top + SIDE, left : left + SIDE])
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    residual = grey.astype(np.int16) - cv2.medianBlur(grey, 3).astype(np.int16)
    absres = np.abs(residual)
    r = crop[:, :, 2].astype(np.int16) - cv2.medianBlur(crop[:, :, 2], 3).astype(np.int16)
    g = crop[:, :, 1].astype(np.int16) - cv2.medianBlur(crop[:, :, 1], 3).astype(np.int16)
    rg = float(np.corrcoef(r.ravel(), g.ravel())[0, 1]) if r.std() > 0 and g.std() > 0 else 1.0
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.abs(gx) + np.abs(gy)
    p50, p90, p99 = np.percentile(mag, (50, 90, 99))
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    packed = (crop[:, :, 0].astype(np.uint32) << 16) | (crop[:, :, 1].astype(np.uint32) << 8) | crop[:, :, 2]
    _, counts = np.unique(packed, return_counts=True)
    top16 = np.sort(counts)[-16:].sum() / packed.size
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    sat = hsv[:, :, 1].astype(np.float32) / 255.0
    hue_hist = np.bincount(hsv[:, :, 0].ravel() // 6, weights=sat.ravel(), minlength=30)
    grey_hist = np.bincount(grey.ravel(), minlength=256)
    return np.array(
        [
            np.log1p(residual.std()),
            (absres == 0).mean(),
            (absres > 8).mean(),
            rg,
            (mag == 0).mean(),
            np.log1p(p50),
            np.log1p(p90),
            np.log1p(p99),
            np.log1p(lap.var()),
            np.log(counts.size / packed.size),
            top16,
            sat.mean(),
            sat.std(),
            _entropy(grey_hist),
            ((grey == 0) | (grey == 255)).mean(),
            _entropy(hue_hist),
        ],
        dtype=np.float32,
    )


def _entropy(hist: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> float:
    p = hist[hist > 0].astype(np.float64)
    if p.size == 0:
        return 0.0
    p /= p.sum()
    return float(-(p * np.log2(p)).sum())
