"""Output helpers shared by the tools' CLIs: JSON for ``--json`` (progress bars: :mod:`codecalamity._util.progress`)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import PurePath
from typing import Any, TextIO


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
