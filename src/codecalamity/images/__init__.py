"""`calamity images`: tell cartoons and drawings from photos, and sort folders into cartoon/photo/unsure.

The default method is a shipped learned model; the tutorial's three OpenCV measures are methods ``blur``,
``palette`` and ``edges``. Each is one module in ``codecalamity.images.methods``, and a new method is one more.
"""

from __future__ import annotations

from codecalamity.images.classify import Verdict, classify
from codecalamity.images.loading import ImageError

__all__ = ["ImageError", "Verdict", "classify"]
