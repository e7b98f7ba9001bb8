"""`calamity paint`: draw text and pictures in the per-core CPU usage graph, accurately on any CPU.

Each chosen core gets a pinned worker process that holds a target load with a closed-loop duty cycle on its own
CPU time (``control``); ``pattern`` turns text, pictures, levels and shapes into per-core targets over time.
The names below are imported on first use, so that ``calamity --help`` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codecalamity._util.lazy import lazy_getattr

if TYPE_CHECKING:
    from codecalamity.paint.control import hold
    from codecalamity.paint.pattern import Pattern
    from codecalamity.paint.workers import Painter

__all__ = ["Painter", "Pattern", "hold"]
__getattr__ = lazy_getattr(__name__, {"hold": "control", "Pattern": "pattern", "Painter": "workers"})
