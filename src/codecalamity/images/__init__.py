"""`calamity images`: tell cartoons and drawings from photos, and sort folders into cartoon/photo/unsure.

The default method is a shipped learned model; the tutorial's three OpenCV measures are methods ``blur``,
``palette`` and ``edges``. Each is one module in ``codecalamity.images.methods``, and a new method is one more.
``classify``, ``Verdict`` and ``ImageError`` load OpenCV and numpy on first use, so ``calamity --help`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codecalamity.images.classifier import Verdict, classify
    from codecalamity.images.loading import ImageError

__all__ = ["ImageError", "Verdict", "classify"]
_LAZY = {"classify": "classifier", "Verdict": "classifier", "ImageError": "loading"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
