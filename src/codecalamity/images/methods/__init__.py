"""The registry of classification methods; each method is one module that registers itself on import.

A method turns a loaded image into P(cartoon). The three measures from the tutorial live in ``blur``,
``palette`` and ``edges``; a learned model is one more module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from codecalamity._errors import UsageError
from codecalamity.images.loading import BACKGROUND
from codecalamity.images.types import BGRImage, Mask

Measure = Callable[[BGRImage, Mask], float]


@dataclasses.dataclass(frozen=True)
class Method:
    """A named way to score an image, with its default sort thresholds.

    Parameters
    ----------
    name
        What ``--method`` calls it.
    summary
        One line for ``--help`` and reports.
    size
        The square side (pixels) the image is resized to before measuring: the smallest that kept the accuracy.
    measure
        The raw measure on the resized image and its content mask (False where the image was transparent).
    threshold
        The tutorial's cut on the raw measure: a score of exactly 0.5.
    slope
        How fast the score moves away from 0.5 per unit of raw measure (fitted on the development set);
        negative when a *smaller* measure means cartoon.
    cartoon_above, photo_below
        Default sort thresholds on the score; between them is ``unsure``.
    batch
        How many images :meth:`score_batch` takes at once (1: the measures score each image on a worker thread).
    background
        The RGB colour that transparent pixels are composited onto when an image is loaded for this method.
    """

    name: str
    summary: str
    size: int
    measure: Measure
    threshold: float
    slope: float
    cartoon_above: float = 0.75
    photo_below: float = 0.25
    batch: int = 1
    background: tuple[int, int, int] = BACKGROUND

    def prepare(self, image: BGRImage, mask: Mask) -> tuple[BGRImage, Mask]:
        """Resize to the method's working size (the tutorial squashes to a square too)."""
        small = np.asarray(cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        small_mask = cv2.resize(mask.astype(np.uint8) * 255, (self.size, self.size), interpolation=cv2.INTER_AREA)
        content = small_mask > 127
        if content.sum() < 0.02 * content.size:  # almost nothing opaque: measure everything
            content[:] = True
        return small, content

    def raw(self, image: BGRImage, mask: Mask) -> float:
        """The raw measure of a full-size loaded image."""
        return self.measure(*self.prepare(image, mask))

    def score_raw(self, raw: float) -> float:
        """P(cartoon) from the raw measure: a logistic curve through 0.5 at the tutorial's threshold."""
        z = self.slope * (raw - self.threshold)
        return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, z))))

    def score_batch(self, images: Sequence[tuple[BGRImage, Mask]]) -> list[float]:
        """Scores of several loaded images (a learned model overrides this to batch)."""
        return [self.score_raw(self.raw(img, mask)) for img, mask in images]


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (its module calls this at import)."""
    REGISTRY[method.name] = method
    return method


def get(name: str) -> Method:
    """The method called ``name``, or a :class:`UsageError` listing the known ones."""
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown method {name!r}; choose from {', '.join(names())}") from None


def names() -> list[str]:
    """Every registered method's name."""
    _load_all()
    return list(REGISTRY)


def _load_all() -> None:
    from codecalamity.images.methods import blur, edges, palette  # noqa: F401 - registers them

    if "model" not in REGISTRY and _model_available():
        from codecalamity.images.methods import model  # noqa: F401 - registers it


def _model_available() -> bool:
    from importlib import resources

    return (resources.files("codecalamity.images.model") / "head.npz").is_file()
