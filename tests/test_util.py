"""Shared plumbing: durations and JSON output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from codecalamity._errors import UsageError
from codecalamity._util.durations import format_duration, parse_duration
from codecalamity._util.output import to_json


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("2h30m", 9000), ("1d", 86400), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "2x", "-5", "5m3", "m5"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    assert format_duration(9000) == "2h30m"
    assert parse_duration(format_duration(93784)) == 93784


def test_json_encodes_dataclasses_and_paths() -> None:
    @dataclasses.dataclass
    class Row:
        path: Path
        tags: frozenset[str]

    assert json.loads(to_json(Row(Path("/a/b"), frozenset({"x"})))) == {"path": "/a/b", "tags": ["x"]}
