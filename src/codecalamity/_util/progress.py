"""Rich progress bars on stderr for the tools' CLIs (kept apart from :mod:`.output`: rich takes a while to import,
and a command whose stderr is not a terminal need not pay for it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def stderr_console() -> Console:
    """A console on stderr, so progress never mixes with machine-readable stdout."""
    return Console(stderr=True)


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column is for bytes)."""

    def render(self, task: Task) -> str:
        return f"{task.speed or 0:.0f}/s"


@contextmanager
def progress(*, transfer: bool = False, disable: bool = False) -> Iterator[Progress]:
    """A rich progress display on stderr: counts items, or bytes with rate and ETA when ``transfer``."""
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    if transfer:
        columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    else:
        columns += [MofNCompleteColumn(), RateColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=stderr_console(), disable=disable, transient=False) as bar:
        yield bar
