"""The three measures: registered, vectorised correctly, scoring in [0, 1] and separating the classes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from codecalamity._errors import UsageError
from codecalamity.images import classify, methods
from codecalamity.images.methods import palette

from .conftest import FIXTURES, synthetic_cartoon, synthetic_photo


def test_registry_has_the_three_measures() -> None:
    assert {"blur", "palette", "edges"} <= set(methods.names())
    with pytest.raises(UsageError, match="unknown method"):
        methods.get("nope")


@pytest.mark.parametrize("name", ["blur", "palette", "edges"])
def test_score_is_one_half_at_the_tutorial_threshold(name: str) -> None:
    method = methods.get(name)
    assert method.score_raw(method.threshold) == pytest.approx(0.5)
    above, below = method.score_raw(method.threshold * 1.5), method.score_raw(method.threshold * 0.5)
    assert (above > 0.5) == (method.slope > 0) and (below < 0.5) == (method.slope > 0)


@pytest.mark.parametrize("name", ["blur", "palette", "edges"])
def test_synthetic_cartoons_score_above_synthetic_photos(name: str) -> None:
    cartoons = [classify(synthetic_cartoon(i), name).score for i in range(5)]
    photos = [classify(synthetic_photo(i), name).score for i in range(5)]
    assert all(0.0 <= s <= 1.0 for s in cartoons + photos)
    assert min(cartoons) > max(photos)


def test_vectorised_palette_matches_the_tutorials_counting_loop() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 6, (64, 64, 3), dtype=np.uint8) * 40
    mask = np.ones((64, 64), dtype=bool)
    counts = Counter(tuple(px) for row in image for px in row)  # the tutorial's slow way
    k = max(1, round(512 * 64 * 64 / 1024**2))
    expected = sum(c for _, c in counts.most_common(k)) / (64 * 64)
    assert palette.coverage(image, mask) == pytest.approx(expected)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.*g")), ids=lambda p: p.name)
def test_fixture_images_are_classified_as_expected_by_palette(path: Path) -> None:
    verdict = classify(path, "palette", cartoon_above=0.5, photo_below=0.5)
    assert verdict.label == path.name.split("-")[0]
    assert verdict.method == "palette"


def test_thresholds_make_unsure_and_are_checked() -> None:
    assert classify(synthetic_photo(1), "palette", cartoon_above=1.0, photo_below=0.0).label == "unsure"
    with pytest.raises(UsageError):
        classify(synthetic_photo(1), "palette", cartoon_above=0.2, photo_below=0.8)
