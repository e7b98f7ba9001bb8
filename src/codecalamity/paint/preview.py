"""``--preview``: draw what the per-core graphs should show, Task Manager style (60 s windows, one per core)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codecalamity.paint.pattern import WINDOW_SECONDS, Pattern, panel_grid


def window(pattern: Pattern, row: int, end: float, samples: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """The 60 s window ending at ``end`` seconds into the run: (seconds from the window's left edge, target)."""
    xs = np.linspace(0.0, WINDOW_SECONDS, samples, endpoint=False)
    times = end - WINDOW_SECONDS + xs
    ys = np.array([pattern.target_at(row, t) if t >= 0 else 0.0 for t in times])
    return xs, ys


def best_moment(pattern: Pattern, duration: float) -> float:
    """The moment the whole drawing has just been drawn (at least one window in), clamped to the run."""
    drawn = pattern.content_seconds if pattern.content_seconds is not None else pattern.seconds
    return float(min(duration, max(WINDOW_SECONDS, drawn)))


LOWEST_MARGIN = 2.0
# Points a core's current load may exceed a target before the cell is marked "cannot go lower" (its noise).


def draw(
    pattern: Pattern, cores: list[int], out: Path, duration: float, floor: dict[int, float] | None = None
) -> tuple[float, list[int]]:
    """Write the preview PNG; return the moment of the run it shows and the cores with cells it cannot reach.

    ``floor`` is each core's load from other programs (percent): a target below it cannot be drawn (the workers
    idle there), so that part of the cell is hatched in red, up to the floor.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = best_moment(pattern, duration)
    low: list[int] = []
    # A drawing over time reads row by row: stack the panels in core order. Static patterns (levels, the X)
    # are drawn across the panel grid, as Task Manager lays the cores out.
    stacked = pattern.columns > 1
    rows, cols = (len(cores), 1) if stacked else panel_grid(len(cores))
    size = (7.0, 0.55 * rows + 0.6) if stacked else (2.2 * cols, 1.5 * rows)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for index in range(rows * cols):
        ax = axes[index // cols][index % cols]
        if index >= len(cores):
            ax.axis("off")
            continue
        xs, ys = window(pattern, index, end)
        ax.fill_between(xs, ys, step="post", color="#7ab0d9", edgecolor="#1d6fa5", linewidth=0.8)
        lowest = floor.get(cores[index], 0.0) if floor else 0.0
        under = ys + LOWEST_MARGIN < lowest
        if under.any():
            low.append(cores[index])
            ax.fill_between(
                xs, ys, lowest, where=under, step="post", facecolor="none", edgecolor="#c0392b", hatch="////"
            )
        ax.set_xlim(0, WINDOW_SECONDS)
        ax.set_ylim(0, 100)
        ax.set_xticks([])
        ax.set_yticks([])
        if stacked:
            ax.set_ylabel(f"CPU {cores[index]}", fontsize=7, rotation=0, ha="right", va="center")
        else:
            ax.set_title(f"CPU {cores[index]}", fontsize=7, loc="left")
        for spine in ax.spines.values():
            spine.set_color("#1d6fa5")
    title = f"targets at {end:.0f} s, last 60 s"
    if low:
        title += "; red: cannot go lower (other programs' load now)"
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return end, low
