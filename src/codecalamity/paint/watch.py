"""``--watch``: live per-core usage in the terminal beside the target, so a Linux user sees the drawing too."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

from codecalamity.paint.preview import LOWEST_MARGIN

if TYPE_CHECKING:
    from codecalamity.paint.pattern import Pattern
    from codecalamity.paint.workers import Painter


def bar(total: float, target: float, width: int = 30) -> str:
    """The total as a bar of ``#``, with ``|`` where the target is."""
    filled = int(round(max(0.0, min(100.0, total)) / 100 * width))
    cells = ["#"] * filled + ["."] * (width - filled)
    mark = min(width - 1, int(round(max(0.0, min(100.0, target)) / 100 * width)))
    cells[mark] = "|"
    return "".join(cells)


def note(target: float, background: float, own_share: bool) -> str:
    """What the last column says: why the total differs from the target, when it must."""
    if own_share:
        return f"ours + others {background:.0f}%"
    if background > target + LOWEST_MARGIN:
        return f"cannot go lower: others use {background:.0f}%"
    return ""


def watch(pattern: Pattern, cores: list[int], painter: Painter, stop: threading.Event) -> None:
    """Redraw a table of target and measured total usage per core every second until done or stopped."""
    import psutil

    psutil.cpu_percent(percpu=True)  # prime the counters
    console = Console(stderr=True)
    if not console.is_terminal:  # a log or a pipe: no need to wrap at 80 columns
        console = Console(stderr=True, width=120)
    duration = painter.duration
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            time.sleep(1.0)
            usage = psutil.cpu_percent(percpu=True)  # the same 1 s sample a monitor shows
            elapsed = time.monotonic() - painter.started_at
            if elapsed > duration:
                break
            readings = painter.readings()
            table = Table(title=f"calamity paint: {max(0.0, elapsed):.0f}/{duration:.0f} s")
            table.add_column("core")
            table.add_column("target", justify="right")
            table.add_column("total", justify="right")
            table.add_column("total (| = target)")
            table.add_column("")
            for row, core in enumerate(cores):
                target = pattern.target_at(row, max(0.0, elapsed))
                total = usage[core] if core < len(usage) else float("nan")
                background = readings[row][2]
                table.add_row(
                    str(core),
                    f"{target:5.1f}%",
                    f"{total:5.1f}%",
                    bar(total, target),
                    note(target, background, painter.own_share),
                )
            live.update(table)
    console.line()  # the closing summary starts on a line of its own
