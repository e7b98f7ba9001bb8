"""Patterns are exact: levels, the X, text and pictures, cell by cell, burning no CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecalamity._errors import UsageError
from codecalamity.paint import pattern
from codecalamity.paint.font import GLYPHS
from codecalamity.paint.preview import draw, window


def test_levels_are_the_tutorials_staircase() -> None:
    p = pattern.levels([100, 90, 80], 4)
    assert p.targets.tolist() == [[100], [90], [80], [0]]
    assert p.target_at(1, 0.0) == p.target_at(1, 59.9) == 90


@pytest.mark.parametrize(("values", "message"), [([101], "0-100"), ([-1], "0-100"), ([10, 20, 30], "only 2")])
def test_bad_levels(values: list[float], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        pattern.levels(values, 2)


def test_x_on_16_cores_is_the_tutorials_core_list() -> None:
    on = np.flatnonzero(pattern.shape_x(16).targets[:, 0] == 100).tolist()
    assert on == [0, 3, 5, 6, 9, 10, 12, 15]


def test_x_on_9_cores_is_both_diagonals_of_the_grid() -> None:
    assert np.flatnonzero(pattern.shape_x(9).targets[:, 0]).tolist() == [0, 2, 4, 6, 8]


def test_text_renders_the_font_row_per_core() -> None:
    p = pattern.text("HI", 7, window_columns=30)
    bitmap = p.targets[:, :11] > 0
    h = np.array([[c == "1" for c in row] for row in GLYPHS["H"]])
    i = np.array([[c == "1" for c in row] for row in GLYPHS["I"]])
    assert (bitmap[:, :5] == h).all()
    assert not bitmap[:, 5].any()  # one blank column between letters
    assert (bitmap[:, 6:11] == i).all()
    assert p.column_seconds == 2.0
    assert p.columns == 11 + 30  # then a window of blank columns to scroll out
    assert p.content_seconds == 22.0


def test_text_scales_to_fewer_cores() -> None:
    p = pattern.text("I", 3)
    assert p.rows == 3 and set(np.unique(p.targets)) <= {0.0, 100.0}


@pytest.mark.parametrize(("message", "error"), [("", "empty"), ("   ", "empty"), ("héllo", "no glyph")])
def test_bad_text(message: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        pattern.text(message, 4)


def test_image_maps_darkness_to_load(tmp_path: Path) -> None:
    img = Image.new("L", (4, 2), 255)
    img.putpixel((0, 0), 0)
    img.putpixel((3, 1), 128)
    path = tmp_path / "logo.png"
    img.save(path)
    p = pattern.image(path, 2, window_columns=4)
    assert p.targets.tolist() == [[100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 49.8]]
    assert pattern.image(path, 2, window_columns=4, invert=True).targets[0, 0] == 0.0
    assert p.column_seconds == 15.0


def test_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UsageError, match="cannot read image"):
        pattern.image(bad, 2)
    with pytest.raises(UsageError, match="cannot read image"):
        pattern.image(tmp_path / "missing.png", 2)


def test_preview_window_and_png(tmp_path: Path) -> None:
    p = pattern.text("HI", 7)
    xs, ys = window(p, 0, end=60.0)
    assert xs[0] == 0 and ys[0] == 100.0  # H's left stroke at the window's left edge
    out = tmp_path / "preview.png"
    assert draw(p, list(range(7)), out, duration=60.0) == (60.0, [])
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_preview_marks_targets_below_the_load_already_there(tmp_path: Path) -> None:
    p = pattern.levels([10, 80], 2)
    at, low = draw(p, [0, 1], tmp_path / "p.png", duration=60.0, floor={0: 30.0, 1: 30.0})
    assert low == [0]  # 10 % under 30 % cannot be drawn; 80 % can
    assert draw(p, [0, 1], tmp_path / "q.png", duration=60.0, floor={0: 11.0, 1: 0.0})[1] == []  # within noise
