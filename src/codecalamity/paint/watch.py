"""``--watch``: live per-core usage in the terminal beside the target, so a Linux user sees the drawing too."""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from codecalamity.paint.pattern import Pattern


def _bar(value: float, width: int = 30) -> str:
    filled = int(round(max(0.0, min(100.0, value)) / 100 * width))
    return "#" * filled + "." * (width - filled)


def watch(pattern: Pattern, cores: list[int], started_at: float, duration: float, stop: threading.Event) -> None:
    """Redraw a table of target and measured usage per core every second until done or stopped."""
    import psutil

    psutil.cpu_percent(percpu=True)  # prime the counters
    console = Console(stderr=True)
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            time.sleep(1.0)
            usage = psutil.cpu_percent(percpu=True)
            elapsed = time.monotonic() - started_at
            if elapsed > duration:
                break
            table = Table(title=f"calamity paint: {max(0.0, elapsed):.0f}/{duration:.0f} s")
            table.add_column("core")
            table.add_column("target", justify="right")
            table.add_column("measured", justify="right")
            table.add_column("")
            for row, core in enumerate(cores):
                target = pattern.target_at(row, max(0.0, elapsed))
                measured = usage[core] if core < len(usage) else float("nan")
                table.add_row(str(core), f"{target:5.1f}%", f"{measured:5.1f}%", _bar(measured))
            live.update(table)
