"""codecalamity: practical tutorials turned into tools people can rely on."""

from __future__ import annotations

__version__ = "0.1.0"
