"""Safe loading: every common format and mode, EXIF orientation, reduced decoding, and clear errors."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecalamity.images import ImageError, classify
from codecalamity.images.loading import load_image


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


RED = Image.new("RGB", (40, 30), (255, 0, 0))


@pytest.mark.parametrize(
    ("data", "expect_bgr"),
    [
        (_encode(RED, "PNG"), (0, 0, 255)),
        (_encode(RED, "JPEG", quality=95), (0, 0, 254)),
        (_encode(RED, "WEBP", lossless=True), (0, 0, 255)),
        (_encode(RED, "BMP"), (0, 0, 255)),
        (_encode(RED, "TIFF"), (0, 0, 255)),
        (_encode(RED.convert("P"), "GIF"), (0, 0, 255)),
        (_encode(RED.convert("L"), "PNG"), (76, 76, 76)),
        (_encode(RED.convert("CMYK"), "JPEG", quality=95), (0, 0, 254)),
        (_encode(Image.new("I;16", (40, 30), 65535), "PNG"), (255, 255, 255)),
    ],
    ids=["png", "jpeg", "webp", "bmp", "tiff", "gif", "gray", "cmyk", "16bit"],
)
def test_formats_and_modes_load_as_bgr(data: bytes, expect_bgr: tuple[int, int, int]) -> None:
    image, mask = load_image(data)
    assert image.dtype == np.uint8 and image.shape == (30, 40, 3)
    assert tuple(int(v) for v in image[15, 20]) == pytest.approx(expect_bgr, abs=3)
    assert mask.all()


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    image, _ = load_image(buf.getvalue())
    assert tuple(int(v) for v in image[10, 10]) == (0, 255, 0)


def test_transparency_is_composited_on_white_and_masked() -> None:
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 10))
    image, mask = load_image(_encode(rgba, "PNG"))
    assert tuple(int(v) for v in image[5, 15]) == (255, 255, 255)
    assert tuple(int(v) for v in image[5, 5]) == (255, 0, 0)
    assert mask[:, :10].all() and not mask[:, 10:].any()
    palette = rgba.convert("P")
    palette.info["transparency"] = 0
    _, pmask = load_image(_encode(rgba.convert("PA").convert("RGBA"), "PNG"))
    assert not pmask.all()


def test_transparency_is_composited_on_the_background_asked_for() -> None:
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 10))
    rgba.paste((255, 0, 0, 128), (10, 0, 15, 10))  # half transparent red
    image, mask = load_image(_encode(rgba, "PNG"), background=(128, 128, 128))
    assert tuple(int(v) for v in image[5, 5]) == (255, 0, 0)
    assert tuple(int(v) for v in image[5, 18]) == (128, 128, 128)
    b, g, r = (int(v) for v in image[5, 12])
    assert abs(r - 191) <= 1 and abs(g - 64) <= 1 and abs(b - 64) <= 1  # blended with the grey, not with white
    assert mask[:, :15].all() and not mask[:, 15:].any()
    array, _ = load_image(np.asarray(rgba)[:, :, [2, 1, 0, 3]].copy(), background=(128, 128, 128))
    assert tuple(int(v) for v in array[5, 18]) == (128, 128, 128)


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image, _ = load_image(_encode(img, "JPEG", exif=exif))
    assert image.shape[:2] == (40, 20)


def test_large_jpeg_decodes_at_reduced_size() -> None:
    big = _encode(Image.new("RGB", (2400, 1600), (10, 20, 30)), "JPEG")
    full, _ = load_image(big)
    reduced, _ = load_image(big, size=256)
    assert full.shape[:2] == (1600, 2400)
    assert 256 <= min(reduced.shape[:2]) < 1600


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is not an image", "not an image"),
        (_encode(RED, "PNG")[:60], "cannot read"),
        (_encode(RED, "JPEG")[:200], "cannot read"),
        (_png_header_only(60000, 60000), "too large"),
    ],
    ids=["empty", "text", "truncated-png", "truncated-jpeg", "bomb"],
)
def test_bad_input_is_a_clear_per_file_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        classify(tmp_path / "nope.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        classify(tmp_path / "empty.jpg")


def test_arrays_are_accepted() -> None:
    gray = np.full((10, 12), 200, dtype=np.uint8)
    image, mask = load_image(gray)
    assert image.shape == (10, 12, 3) and mask.all()
    with pytest.raises(ImageError):
        load_image(np.zeros((2, 2, 7), dtype=np.uint8))
