"""Backbone features of several views of each picture, cached per file (benchmarks/image_sets.py), for the
model tools: ``whole`` (as the model sees it), ``mirror``, ``jpeg`` (re-compressed at quality 60-95: training
augmentation), ``center`` (the middle 60 % at the model's size: more detail), and ``texture`` (the camera-noise
statistics of codecalamity.images.texture).

    python tools/model/views.py [SET ...] [--views whole,mirror,jpeg,texture]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import texture  # noqa: E402
from image_sets import Item, cached, default_sets, read_sets  # noqa: E402

from codecalamity.images.loading import ImageError, load_image  # noqa: E402
from codecalamity.images.methods.model import FEATURES, center_input, features, to_input  # noqa: E402
from codecalamity.images.recipe import RECIPE  # noqa: E402

SIZE = 224
MODEL_FILE = ROOT / "src" / "codecalamity" / "images" / "model" / "backbone.onnx"
BACKBONE = "mnv2-" + hashlib.sha256(MODEL_FILE.read_bytes()).hexdigest()[:8]
# the cache's name says which backbone computed it, so a rebuilt backbone never reads stale features
VIEWS = ("whole", "mirror", "jpeg", "center", "texture")
Array = npt.NDArray[np.float32]


CUT_MARGIN = 0.05
# cut-out views: a transparent picture cropped to its opaque pixels' bounding box plus this share on each side


def opaque_box(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    """The bounding box (top, bottom, left, right) of the opaque pixels plus a margin, or None when the picture
    has no transparent pixel (or no opaque one)."""
    if mask.all() or not mask.any():
        return None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dy, dx = round((bottom - top) * CUT_MARGIN), round((right - left) * CUT_MARGIN)
    return max(0, top - dy), min(h, bottom + dy), max(0, left - dx), min(w, right + dx)


def _cut(path: Path, view: str) -> Array | None:
    """The views of transparent pictures: ``VIEW@bgN`` composites them onto grey level N instead of white (the
    recipe's background), ``VIEW@cut`` crops them to their opaque pixels' box (measured, not kept)."""
    base, how = view.split("@")
    level = int(how[2:]) if how.startswith("bg") else 255
    try:
        image, mask = load_image(path, size=2 * SIZE if base.startswith("center") else SIZE, background=(level,) * 3)
    except ImageError:
        return None
    if how == "blob":  # training augmentation: the picture as a cut-out, an ellipse of it on the recipe's grey
        image, mask = load_image(path, size=SIZE, background=(RECIPE.background,) * 3)
        h, w = image.shape[:2]
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(path.name.encode()).digest()[:8], "little"))
        ry, rx = h * rng.uniform(0.3, 0.48), w * rng.uniform(0.3, 0.48)
        yy, xx = np.mgrid[0:h, 0:w]
        inside = ((yy - h / 2) / ry) ** 2 + ((xx - w / 2) / rx) ** 2 <= 1
        image = np.where((inside & mask)[:, :, None], image, np.uint8(RECIPE.background))
    box = opaque_box(mask) if how == "cut" else None
    if box is not None:
        top, bottom, left, right = box
        image = np.ascontiguousarray(image[top:bottom, left:right])
    if base.startswith("center"):  # centerNN: without NN % of each side (the recipe's: CENTER_MARGIN)
        return center_input(image, SIZE, int(base[6:]) / 100) if base[6:] else center_input(image, SIZE)
    return to_input(image, SIZE)


def _input(path: Path, view: str) -> Array | None:
    if "@" in view:
        return _cut(path, view)
    if view.startswith("center") and view != "center":
        return _cut(path, f"{view}@bg255")
    try:
        image, _ = load_image(path, size=SIZE if view != "center" else 2 * SIZE)
    except ImageError:
        return None
    if view == "texture":
        return texture.statistics(image)
    if view == "center":
        return center_input(image, SIZE)
    base = to_input(image, SIZE)
    if view == "mirror":
        return np.ascontiguousarray(base[:, :, ::-1])
    if view == "jpeg":
        rng = np.random.default_rng(int.from_bytes(path.name.encode()[:8].ljust(8, b"\0"), "little"))
        rgb = (base.transpose(1, 2, 0) * 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=int(rng.integers(60, 95)))
        again, _ = load_image(buf.getvalue())
        return to_input(again, SIZE)
    return base


STYLE = ROOT / ".bench-work" / "models" / "mnv2_style.onnx"
_STYLE = None


def style_features(batch: Array) -> Array:
    """The style backbone (tools/model/convert_nsfwjs.py --style): 3440 features per image."""
    import onnxruntime as ort

    global _STYLE
    if _STYLE is None:
        _STYLE = ort.InferenceSession(str(STYLE), providers=["CPUExecutionProvider"])
    return np.asarray(_STYLE.run(["features"], {"input": batch})[0])


_OTHER: list[object] = []


def use_backbone(path: Path | None) -> None:
    """Compute (and cache) features with the backbone file ``path`` instead of the shipped one (None: the shipped
    one again)."""
    import onnxruntime as ort

    global BACKBONE
    BACKBONE = "mnv2-" + hashlib.sha256((path or MODEL_FILE).read_bytes()).hexdigest()[:8]
    _OTHER[:] = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])] if path else []


def _features(batch: Array) -> Array:
    if _OTHER:
        return np.asarray(_OTHER[0].run(["features"], {"input": batch})[0])  # type: ignore[attr-defined]
    return features(batch)


def extractor(view: str, style: bool = False):  # type: ignore[no-untyped-def]
    run_backbone = style_features if style else _features
    width = 3440 if style else FEATURES

    def run(paths: Sequence[Path]) -> list[Array]:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            inputs = list(pool.map(lambda p: _input(p, view), paths))
        if view == "texture":
            return [x if x is not None else np.full(texture.COUNT, np.nan, np.float32) for x in inputs]
        good = [x for x in inputs if x is not None]
        feats = iter(run_backbone(np.stack(good))) if good else iter([])
        return [next(feats) if x is not None else np.full(width, np.nan, np.float32) for x in inputs]

    return run


INCEPTION = ROOT / ".bench-work" / "models" / "inception_v3.onnx"


def inception(paths: Sequence[Path]) -> list[Array]:
    """nsfwjs's InceptionV3 (tools/model/convert_nsfwjs.py --which inception_v3): 2432 features at 299 px."""
    import onnxruntime as ort

    global _INCEPTION
    if _INCEPTION is None:
        _INCEPTION = ort.InferenceSession(str(INCEPTION), providers=["CPUExecutionProvider"])
    inputs = []
    for path in paths:
        try:
            inputs.append(to_input(load_image(path, size=299)[0], 299))
        except ImageError:
            inputs.append(None)
    good = [x for x in inputs if x is not None]
    feats = iter(_INCEPTION.run(["features"], {"input": np.stack(good)})[0]) if good else iter([])
    return [next(feats) if x is not None else np.full(2432, np.nan, np.float32) for x in inputs]


_INCEPTION = None


def view_matrix(items: Sequence[Item], view: str, background: int = RECIPE.background) -> Array:
    """One row per item: the view's features (NaN where the file could not be read); the recipe's views of
    transparent pictures on the ``background`` grey level."""
    if (view == "whole" or view.startswith("center")) and background != 255:
        view = f"{view}@bg{background}"
    return _matrix(items, view)


def _matrix(items: Sequence[Item], view: str) -> Array:
    if view == "inception":
        return np.stack(cached("inception-whole", items, inception, chunk=16))
    if view.startswith("style-"):
        return np.stack(cached(f"mnv2s-{view[6:]}", items, extractor(view[6:], style=True)))
    if view.endswith("@blob"):
        return np.stack(cached(f"{BACKBONE}-{view}", items, extractor(view)))
    if "@" in view:
        return _cut_matrix(items, view)
    name = "texture-v1" if view == "texture" else f"{BACKBONE}-{view}"
    return np.stack(cached(name, items, extractor(view)))


def _transparent(paths: Sequence[Path]) -> list[Array]:
    def one(path: Path) -> Array:
        try:
            _, mask = load_image(path)
        except ImageError:
            return np.zeros(1, np.float32)
        return np.array([float(not mask.all())], np.float32)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return list(pool.map(one, paths))


def _cut_matrix(items: Sequence[Item], view: str) -> Array:
    """A view of transparent pictures (``_cut``): the plain view's features, recomputed only for the pictures with
    transparent pixels."""
    out = _matrix(items, view.split("@")[0]).copy()
    flags = np.stack(cached("transparent-v1", items, _transparent))[:, 0] > 0
    picked = [items[i] for i in np.flatnonzero(flags)]
    if picked:
        out[flags] = np.stack(cached(f"{BACKBONE}-{view}", picked, extractor(view)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--views", default="whole,mirror,jpeg,texture")
    parser.add_argument("--backbone", type=Path, help="another backbone file (default: the shipped one)")
    args = parser.parse_args()
    if args.backbone:
        use_backbone(args.backbone)
    items = read_sets(args.sets or default_sets())
    for view in args.views.split(","):
        started = time.perf_counter()
        x = view_matrix(items, view)
        print(f"{view}: {x.shape} in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
