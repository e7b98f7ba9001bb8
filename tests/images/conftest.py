"""Images for the tests: small committed fixtures, and synthetic cartoons and photos drawn on the fly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def synthetic_cartoon(seed: int, size: int = 160) -> np.ndarray:
    """Flat colour shapes with black outlines on a flat background."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), rng.integers(150, 255, 3), dtype=np.uint8)
    for _ in range(4):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        centre = tuple(int(c) for c in rng.integers(20, size - 20, 2))
        radius = int(rng.integers(10, size // 3))
        cv2.circle(img, centre, radius, colour, -1)
        cv2.circle(img, centre, radius, (0, 0, 0), 2)
    return img


def synthetic_photo(seed: int, size: int = 160) -> np.ndarray:
    """Smooth lighting, fine texture and sensor noise: what flat art does not have."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([80 + 100 * x, 90 + 80 * y, 120 + 60 * x * y], axis=2)
    texture = cv2.GaussianBlur(rng.normal(0, 40, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    noise = rng.normal(0, 12, (size, size, 3))
    return np.clip(base + texture + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """A folder of 6 synthetic cartoons and 6 synthetic photos, in nested folders, as PNG and JPEG."""
    root = tmp_path / "mixed"
    (root / "nested").mkdir(parents=True)
    for i in range(6):
        cv2.imwrite(str(root / f"cartoon{i}.png"), synthetic_cartoon(i))
        cv2.imwrite(str(root / "nested" / f"photo{i}.jpg"), synthetic_photo(i), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root
