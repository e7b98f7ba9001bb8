"""Safe image loading shared by every method: any common format in, a BGR ``uint8`` array out.

Pillow decodes (JPEG, PNG, WebP, GIF first frame, BMP, TIFF), applies the EXIF orientation, converts grayscale,
palette, 16-bit and CMYK images, and composites transparency onto one fixed background so that a cutout's
background never decides its class. JPEGs are decoded at reduced size when the method needs less (draft mode).
A pixel-count limit stops decompression bombs. Every failure is an :class:`ImageError` for that one file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from codecalamity._errors import CalamityError

if TYPE_CHECKING:
    from codecalamity.images.types import BGRImage, Mask, Source

MAX_PIXELS = 80_000_000
# Images with more pixels are refused (a 10000 x 8000 photo is fine; a crafted 50000 x 50000 PNG is not).
BACKGROUND = (255, 255, 255)
# Transparent pixels are composited onto white, for every class alike (see the dataset's README).
SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"})


class ImageError(CalamityError):
    """One image could not be loaded; the message says why."""


def is_image_path(path: Path) -> bool:
    """Whether ``path`` has an image file extension (the content is checked when loading)."""
    return path.suffix.lower() in SUFFIXES


def load_image(
    source: Source, size: int | None = None, background: tuple[int, int, int] = BACKGROUND
) -> tuple[BGRImage, Mask]:
    """Load ``source`` (a path, bytes or an array) as a BGR ``uint8`` image and its opaque-pixel mask.

    Parameters
    ----------
    source
        A file path, the file's bytes, or an already decoded array (BGR, or grayscale).
    size
        The side the caller will resize to; lets JPEG decode at a reduced scale that is still at least this big.
    background
        The RGB colour transparent pixels are composited onto (white unless a method asks for another).

    Returns
    -------
    image, mask
        The image composited onto ``background``, and True where it was opaque (all True without transparency).

    Raises
    ------
    ImageError
        The file is missing, empty, truncated, corrupt, not an image, or too large.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, background)
    if not isinstance(source, (str, Path, bytes)):
        raise ImageError(f"cannot classify a {type(source).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageError(f"image is too large ({img.width}x{img.height} pixels)")
                if size is not None and img.format == "JPEG":
                    img.draft("RGB", (size, size))
                img.seek(0)
                img.load()
                return _to_bgr(ImageOps.exif_transpose(img), size, background)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(_reason(err)) from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise ImageError(f"cannot read image: {err}") from None


def _open(source: str | Path | bytes) -> Image.Image:
    if isinstance(source, bytes):
        if not source:
            raise ImageError("empty data")
        return Image.open(io.BytesIO(source))
    path = Path(source)
    if not path.is_file():
        raise ImageError("no such file")
    if path.stat().st_size == 0:
        raise ImageError("empty file")
    return Image.open(path)


def _reason(err: Exception) -> str:
    if isinstance(err, UnidentifiedImageError):
        return "not an image (or a format Pillow cannot read)"
    return f"image is too large: {err}"


def _to_bgr(img: Image.Image, size: int | None, background: tuple[int, int, int]) -> tuple[BGRImage, Mask]:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size and arr.max() > 0 else 1.0
        img = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    if size is not None and min(img.size) >= 2 * size:
        img = img.reduce(min(img.size) // size)  # a fast box filter; the method resizes the rest of the way
    mask = None
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        alpha = rgba.getchannel("A")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=alpha)
        img = canvas
        mask = np.asarray(alpha) > 127
    elif img.mode != "RGB":
        img = img.convert("RGB")
    rgb = np.asarray(img, dtype=np.uint8)
    if mask is None:
        mask = np.ones(rgb.shape[:2], dtype=bool)
    return np.ascontiguousarray(rgb[:, :, ::-1]), mask


def _from_array(arr: np.ndarray, background: tuple[int, int, int]) -> tuple[BGRImage, Mask]:
    if arr.size == 0:
        raise ImageError("empty array")
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    mask = np.ones(arr.shape[:2], dtype=bool)
    if arr.shape[2] == 4:
        mask = arr[:, :, 3] > 127
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        bg = np.array(background[::-1], dtype=np.float32)
        arr = (arr[:, :, :3] * alpha + bg * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr), mask
