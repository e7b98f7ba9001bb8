"""What to draw: a grid of target loads, one row per core, one column per time step.

Everything here is exact and burns no CPU: the tests check it cell by cell.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from codecalamity._errors import UsageError
from codecalamity.paint.font import GLYPHS, HEIGHT

WINDOW_SECONDS = 60.0
# Task Manager (and most per-core monitors) show the last 60 seconds.

Grid = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class Pattern:
    """Target load in percent, ``targets[row, column]``; row i is the i-th chosen core."""

    targets: Grid
    column_seconds: float
    content_seconds: float | None = None
    """Where the drawing ends and trailing blank columns begin (None: it fills the whole pattern)."""

    @property
    def rows(self) -> int:
        return int(self.targets.shape[0])

    @property
    def columns(self) -> int:
        return int(self.targets.shape[1])

    @property
    def seconds(self) -> float:
        """How long one pass through the pattern takes."""
        return self.columns * self.column_seconds

    def target_at(self, row: int, elapsed: float) -> float:
        """The target of ``row`` at ``elapsed`` seconds into the run (the pattern repeats)."""
        column = int(elapsed // self.column_seconds) % self.columns
        return float(self.targets[row, column])


def levels(values: list[float], cores: int) -> Pattern:
    """The tutorial's staircase: core i holds ``values[i]`` the whole time."""
    if not values:
        raise UsageError("give at least one level")
    bad = [v for v in values if not 0 <= v <= 100]
    if bad:
        raise UsageError(f"levels must be 0-100, got {bad[0]:g}")
    if len(values) > cores:
        raise UsageError(f"{len(values)} levels but only {cores} core(s) chosen")
    column = np.zeros((cores, 1))
    column[: len(values), 0] = values
    return Pattern(column, WINDOW_SECONDS)


def panel_grid(cores: int) -> tuple[int, int]:
    """Rows and columns of per-core panels in a Task Manager-like layout (as square as possible, wider first)."""
    cols = math.ceil(math.sqrt(cores))
    return math.ceil(cores / cols), cols


def shape_x(cores: int) -> Pattern:
    """The tutorial's X: across the grid of core panels, the cores on both diagonals run at 100 %."""
    if cores < 1:
        raise UsageError("no cores chosen")
    rows, cols = panel_grid(cores)
    out = np.zeros((cores, 1))
    for core in range(cores):
        r, c = divmod(core, cols)
        # distance from each diagonal, in the grid's own proportions
        u, v = (r + 0.5) / rows, (c + 0.5) / cols
        if min(abs(u - v), abs(u - (1 - v))) <= 0.5 / max(rows, cols):
            out[core, 0] = 100.0
    return Pattern(out, WINDOW_SECONDS)


def text_bitmap(text: str) -> npt.NDArray[np.bool_]:
    """The text in the 5 x 7 font, one blank column between letters."""
    if not text.strip():
        raise UsageError("the text is empty")
    unknown = sorted({ch for ch in text.upper() if ch not in GLYPHS})
    if unknown:
        raise UsageError(f"no glyph for {''.join(unknown)!r} (letters, digits and .,:;!?'-+/# only)")
    columns: list[list[bool]] = []
    for ch in text.upper():
        glyph = GLYPHS[ch]
        for x in range(5):
            columns.append([glyph[y][x] == "1" for y in range(HEIGHT)])
        columns.append([False] * HEIGHT)
    return np.array(columns[:-1], dtype=bool).T


def text(message: str, cores: int, level: float = 100.0, window_columns: int = 30) -> Pattern:
    """Render ``message`` across ``cores`` rows, scrolling through a 60 s window.

    Each bitmap column lasts ``60 / window_columns`` seconds, so ``window_columns`` columns fill the window; a
    longer message scrolls through it. The 7-pixel font is resampled to the number of cores (nearest row).
    The message starts at once (so a 60 s run ends with it on screen) and blank columns after it let it scroll
    out when the run is longer.
    """
    if cores < 1:
        raise UsageError("no cores chosen")
    bitmap = text_bitmap(message)
    rows = np.floor(np.arange(cores) * HEIGHT / cores).astype(int)
    scaled = bitmap[rows, :]
    pad = np.zeros((cores, window_columns), dtype=bool)
    grid = np.concatenate([scaled, pad], axis=1).astype(float) * level
    column_seconds = WINDOW_SECONDS / window_columns
    return Pattern(grid, column_seconds, content_seconds=scaled.shape[1] * column_seconds)


def image(path: Path, cores: int, window_columns: int = 30, invert: bool = False) -> Pattern:
    """A picture resampled to ``cores`` rows by ``window_columns`` columns; dark pixels become high load."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            gray = img.convert("L").resize((window_columns, cores), Image.Resampling.BOX)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise UsageError(f"cannot read image {path}: {err}") from None
    brightness = np.asarray(gray, dtype=float) / 255.0
    load = brightness if invert else 1.0 - brightness
    return Pattern(np.round(load * 100.0, 1), WINDOW_SECONDS / window_columns)
