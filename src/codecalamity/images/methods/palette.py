"""Palette coverage: cartoons use few colours, so their most common colours cover much of the picture.

The tutorial counts the colours of a 1024 x 1024 image and calls it a cartoon when the top 512 cover more than
30 % of the pixels. Here the count is one ``np.unique`` over packed 24-bit colours (no Python loop), only the
opaque pixels count (a transparent background would otherwise make every cutout look like a cartoon), and the
image is measured at 512 px with the top-colour count scaled to the pixel count (512 colours per 1024 x 1024).
"""

from __future__ import annotations

import numpy as np

from codecalamity.images.methods import Method, register
from codecalamity.images.types import BGRImage, Mask

TOP_COLOURS_PER_MEGAPIXEL = 512


def packed_colours(image: BGRImage) -> np.ndarray:
    """Each pixel's colour as one 24-bit integer."""
    return (image[:, :, 0].astype(np.uint32) << 16) | (image[:, :, 1].astype(np.uint32) << 8) | image[:, :, 2]


def top_colours(image: BGRImage, mask: Mask) -> tuple[np.ndarray, float]:
    """The most common colours (packed) and the fraction of opaque pixels they cover."""
    colours = packed_colours(image)[mask]
    values, counts = np.unique(colours, return_counts=True)
    k = max(1, round(TOP_COLOURS_PER_MEGAPIXEL * colours.size / 1024**2))
    if counts.size > k:
        top = np.argpartition(counts, -k)[-k:]
        values, counts = values[top], counts[top]
    return values, float(counts.sum()) / max(1, colours.size)


def coverage(image: BGRImage, mask: Mask) -> float:
    """Fraction of the opaque pixels drawn in the most common colours."""
    return top_colours(image, mask)[1]


METHOD = register(
    Method(
        name="palette",
        summary="few colours cover most of a cartoon (tutorial threshold 30 %)",
        size=512,
        measure=coverage,
        threshold=0.3,
        slope=8.0,
    )
)
