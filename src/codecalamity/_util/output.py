"""Output helpers shared by the tools' CLIs: JSON for ``--json`` and rich progress bars."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any, TextIO

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


def _default(obj: object) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def to_json(data: object) -> str:
    """Encode ``data`` (dataclasses, paths and sets included) as indented JSON."""
    return json.dumps(data, default=_default, indent=2, ensure_ascii=False)


def print_json(data: object, file: TextIO | None = None) -> None:
    """Write ``data`` as JSON followed by a newline to ``file`` (stdout by default)."""
    out = file if file is not None else sys.stdout
    out.write(to_json(data) + "\n")


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
