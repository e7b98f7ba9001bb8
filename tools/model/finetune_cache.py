#!/usr/bin/env python3
"""Cache the frozen early blocks' output for fine-tuning: each picture's whole view, its middle (the shipped
``center`` view) and AUG augmented copies, run through nsfwjs's MobileNetV2 up to CUT by onnxruntime.

    python tools/model/finetune_cache.py OUT_DIR [SET ...] [--aug 2] [--cut block_14_add]

Augmentation (per copy, seeded by the picture and copy number): a random crop of 30-100 % of the area at an
aspect of 3:4 to 4:3, a mirror half the time, brightness, contrast and saturation jitter (+-20 %, +-20 %,
+-30 %), then at the model's size a Gaussian blur (a quarter of the time), Gaussian noise (a quarter of the
time) and a JPEG re-compression at quality 40-95 (half the time). Writes ``acts.npy`` (N x V x C x H x W,
float16), ``moments.npy`` (N x V x 256: mean and spread of block_5_add and block_12_add, which stay frozen),
and ``items.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import helper
from PIL import Image

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools" / "model"))

from convert_nsfwjs import convert, fetch  # noqa: E402
from image_sets import Item, read_sets  # noqa: E402

from codecalamity.images.loading import ImageError, load_image  # noqa: E402
from codecalamity.images.methods.model import center_input, to_input  # noqa: E402

SIZE = 224
SETS = [ROOT.parent / "shared" / "datasets" / "cartoon-photo", ROOT.parent / "data" / "trainset-next"]
SETS.append(ROOT.parent / "data" / "external")


def front_model(model: dict, blob: bytes, cut: str) -> onnx.ModelProto:  # type: ignore[type-arg]
    """The converted backbone with the cut layer's output and the two blocks' moments as outputs."""
    proto = convert(model, blob)
    names = {o for n in proto.graph.node for o in n.output}
    layer_out = sorted(n for n in names if n.rsplit("_", 1)[0] == cut and n.rsplit("_", 1)[1].isdigit())
    assert len(layer_out) == 1, layer_out
    stats = [n for n in names if n.endswith(("_mean", "_sd")) and "_stats_" in n]
    assert len(stats) == 4, stats
    stats.sort(key=lambda n: (int(n.split("_stats_")[1].split("_")[0]), n.endswith("_sd")))
    concat = helper.make_node("Concat", stats, ["moments"], axis=1)
    proto.graph.node.append(concat)
    del proto.graph.output[:]
    proto.graph.output.extend(
        [helper.make_tensor_value_info(layer_out[0], onnx.TensorProto.FLOAT, None)]
        + [helper.make_tensor_value_info("moments", onnx.TensorProto.FLOAT, None)]
    )
    return proto


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One augmented copy of a BGR image as the backbone's 3 x 224 x 224 input."""
    h, w = image.shape[:2]
    area = rng.uniform(0.3, 1.0) * h * w
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    ch = int(min(h, max(8, round(np.sqrt(area / aspect)))))
    cw = int(min(w, max(8, round(np.sqrt(area * aspect)))))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = image[y0 : y0 + ch, x0 : x0 + cw].astype(np.float32)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = img * rng.uniform(0.8, 1.2)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.8, 1.2) + mean
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.7, 1.3)
    img = cv2.resize(np.clip(img, 0, 255), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.25:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.25:
        img = img + rng.normal(0, rng.uniform(1, 5), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        Image.fromarray(out[:, :, ::-1]).save(buf, "JPEG", quality=int(rng.integers(40, 96)))
        out = np.asarray(Image.open(buf).convert("RGB"))[:, :, ::-1]
    return to_input(np.ascontiguousarray(out), SIZE)


def inputs(item: Item, aug: int) -> np.ndarray | None:
    """The whole view, the center view and ``aug`` augmented copies of one picture."""
    try:
        image, _ = load_image(item.path, size=2 * SIZE)
    except ImageError:
        return None
    rng = np.random.default_rng(int(item.sha256[:12], 16))
    views = [to_input(image, SIZE), center_input(image, SIZE)]
    views += [augment(image, rng) for _ in range(aug)]
    return np.stack(views)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--aug", type=int, default=2)
    parser.add_argument("--cut", default="block_14_add")
    args = parser.parse_args()
    import onnxruntime as ort

    items = read_sets(args.sets or SETS)
    with tempfile.TemporaryDirectory() as tmp:
        model, blob = fetch("4.3.0", Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.json").write_text(json.dumps(model))
    (args.out / "weights.bin").write_bytes(blob)
    proto = front_model(model, blob, args.cut)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    views = 2 + args.aug
    probe = session.run(None, {"input": np.zeros((1, 3, SIZE, SIZE), np.float32)})
    shape = (len(items), views, *probe[0].shape[1:])
    acts = np.lib.format.open_memmap(args.out / "acts.npy", "w+", np.float16, shape)
    moments = np.lib.format.open_memmap(args.out / "moments.npy", "w+", np.float32, (len(items), views, 256))
    ok = np.zeros(len(items), bool)
    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        chunk = 8
        for start in range(0, len(items), chunk):
            part = list(range(start, min(start + chunk, len(items))))
            batch = list(pool.map(lambda i: inputs(items[i], args.aug), part))
            good = [i for i, x in zip(part, batch, strict=True) if x is not None]
            if good:
                x = np.concatenate([b for b in batch if b is not None])
                a, m = session.run(None, {"input": x})
                acts[good] = a.reshape(len(good), views, *a.shape[1:]).astype(np.float16)
                moments[good] = m.reshape(len(good), views, -1)
                ok[good] = True
            if start % 400 == 0:
                done = start + len(part)
                print(f"{done}/{len(items)} in {time.perf_counter() - started:.0f} s", flush=True)
    acts.flush()
    moments.flush()
    with open(args.out / "items.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ok", "path", "label", "group", "kind", "sha256"])
        for item, good_item in zip(items, ok, strict=True):
            writer.writerow([int(good_item), item.path, item.label, item.group, item.kind, item.sha256])
    print(
        f"done: {int(ok.sum())}/{len(items)} pictures, {views} views, {shape} in {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
