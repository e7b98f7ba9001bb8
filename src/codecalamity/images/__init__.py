"""`calamity images`: tell cartoons and drawings from photos, and sort folders into cartoon/photo/unsure.

The default method is a shipped learned model; the tutorial's three OpenCV measures are methods ``blur``,
``palette`` and ``edges``. Each is one module in ``codecalamity.images.methods``, and a new method is one more.
``classify``, ``Verdict`` and ``ImageError`` load OpenCV and numpy on first use, so ``calamity --help`` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codecalamity._util.lazy import lazy_getattr

if TYPE_CHECKING:
    from codecalamity.images.classifier import Verdict, classify
    from codecalamity.images.loading import ImageError

__all__ = ["ImageError", "Verdict", "classify"]
__getattr__ = lazy_getattr(__name__, {"classify": "classifier", "Verdict": "classifier", "ImageError": "loading"})
