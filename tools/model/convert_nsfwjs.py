#!/usr/bin/env python3
"""Rebuild the shipped image backbone from the npm package nsfwjs: its MobileNetV2 as an ONNX file.

    python tools/model/convert_nsfwjs.py [--version 4.3.0] [--out src/codecalamity/images/model/backbone.onnx]

Needs npm and node (to unpack the package's browserified model files) and the `model` extra (onnx). The weights
stay the package's own uint8-quantized values; the graph turns them into float32 (q * scale + min, then the
layout change) in nodes that onnxruntime folds into constants when it loads the file, so the file stays small.
Outputs: ``features`` (the input of our head: the 1280 pooled features, the 128 units of the package's own
head, and the mean and spread of two mid-level blocks) and ``nsfw`` (the package's five classes, kept to check
the conversion against nsfwjs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "src" / "codecalamity" / "images" / "model" / "backbone.onnx"
UNPACK = """
const fs = require("fs");
const dir = process.argv[1];
const m = require(dir + "/model.min.js");
fs.writeFileSync(process.argv[2] + "/model.json", JSON.stringify(m));
const shards = fs.readdirSync(dir).filter((f) => f.startsWith("group1-shard")).sort();
const bufs = shards.map((f) => {
  const s = require(dir + "/" + f);
  return typeof s === "string" ? Buffer.from(s, "base64") : Buffer.from(s);
});
fs.writeFileSync(process.argv[2] + "/weights.bin", Buffer.concat(bufs));
"""
SIZES = {"mobilenet_v2": 224, "inception_v3": 299}


def fetch(version: str, work: Path, which: str = "mobilenet_v2") -> tuple[dict[str, Any], bytes]:
    subprocess.run(["npm", "pack", f"nsfwjs@{version}", "--silent"], cwd=work, check=True, capture_output=True)
    subprocess.run(["tar", "xzf", f"nsfwjs-{version}.tgz"], cwd=work, check=True)
    models = work / "package" / "dist" / "models" / which
    subprocess.run(["node", "-e", UNPACK, str(models), str(work)], check=True)
    return json.loads((work / "model.json").read_text()), (work / "weights.bin").read_bytes()


class Graph:
    def __init__(self, manifest: list[dict[str, Any]], blob: bytes) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.raw: dict[str, tuple[np.ndarray, dict[str, Any] | None]] = {}
        offset = 0
        for spec in manifest:
            shape = spec["shape"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            dtype = np.uint8 if quant else np.float32
            size = count * np.dtype(dtype).itemsize
            self.raw[spec["name"]] = (np.frombuffer(blob, dtype, count, offset).reshape(shape), quant)
            offset += size
        assert offset == len(blob), (offset, len(blob))
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def weight(self, key: str, perm: list[int] | None = None, shape: list[int] | None = None) -> str:
        """A float32 tensor from the package's weight ``key``, dequantized and re-laid-out inside the graph."""
        values, quant = self.raw[key]
        base = key.replace("/", "_")
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(values), base + "_q"))
        out = base + "_q"
        if quant:
            scale = numpy_helper.from_array(np.array(quant["scale"], np.float32), base + "_scale")
            low = numpy_helper.from_array(np.array(quant["min"], np.float32), base + "_min")
            self.inits += [scale, low]
            self.nodes += [
                helper.make_node("Cast", [out], [base + "_f"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [base + "_f", base + "_scale"], [base + "_s"]),
                helper.make_node("Add", [base + "_s", base + "_min"], [base + "_d"]),
            ]
            out = base + "_d"
        if perm is not None:
            self.nodes.append(helper.make_node("Transpose", [out], [base + "_t"], perm=perm))
            out = base + "_t"
        if shape is not None:
            self.inits.append(numpy_helper.from_array(np.array(shape, np.int64), base + "_shape"))
            self.nodes.append(helper.make_node("Reshape", [out, base + "_shape"], [base + "_r"]))
            out = base + "_r"
        return out


MID_BLOCKS = ("block_5_add", "block_12_add")
FEATURES = 1280 + 128 + 2 * (32 + 96)
STYLE_BLOCKS = ("block_2_add", "block_5_add", "block_9_add", "block_12_add", "block_15_add")
STYLE_FEATURES = 1280 + 128 + 2 * (24 + 32 + 64 + 96 + 160) + 1280


def _stats(g: Graph, tensor: str) -> list[str]:
    """Per-channel mean and standard deviation over the image of a feature map, as two N x C tensors."""
    base = g.name(tensor + "_stats")
    g.nodes += [
        helper.make_node("GlobalAveragePool", [tensor], [base + "_m4"]),
        helper.make_node("Mul", [tensor, tensor], [base + "_sq"]),
        helper.make_node("GlobalAveragePool", [base + "_sq"], [base + "_sq4"]),
        helper.make_node("Mul", [base + "_m4", base + "_m4"], [base + "_msq"]),
        helper.make_node("Sub", [base + "_sq4", base + "_msq"], [base + "_var"]),
        helper.make_node("Relu", [base + "_var"], [base + "_var0"]),
        helper.make_node("Sqrt", [base + "_var0"], [base + "_sd4"]),
        helper.make_node("Flatten", [base + "_m4"], [base + "_mean"]),
        helper.make_node("Flatten", [base + "_sd4"], [base + "_sd"]),
    ]
    return [base + "_mean", base + "_sd"]


def convert(model: dict[str, Any], blob: bytes, which: str = "mobilenet_v2", style: bool = False) -> onnx.ModelProto:
    layers = model["modelTopology"]["model_config"]["config"]["layers"]
    g = Graph(model["weightsManifest"][0]["weights"], blob)
    out: dict[str, str] = {}
    pending_pad: dict[str, list[int]] = {}
    for layer in layers:
        kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
        inputs = [out[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        result = g.name(name)
        if kind == "InputLayer":
            out[name] = "input"
            continue
        if kind == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            pending_pad[name] = [top, left, bottom, right]
            out[name] = inputs[0]
            continue
        source = layer["inbound_nodes"][0][0][0]
        pads = pending_pad.get(source, [0, 0, 0, 0])
        if kind in ("Conv2D", "DepthwiseConv2D"):
            kh, kw = cfg["kernel_size"]
            if cfg["padding"] == "same":
                pads = [kh // 2, kw // 2, kh // 2, kw // 2]
            if kind == "Conv2D":
                w = g.weight(f"{name}/kernel", perm=[3, 2, 0, 1])
                group = 1
            else:
                h, wd, cin, mult = g.raw[f"{name}/depthwise_kernel"][0].shape
                w = g.weight(f"{name}/depthwise_kernel", perm=[2, 3, 0, 1], shape=[cin * mult, 1, h, wd])
                group = cin
            args = [inputs[0], w] + ([g.weight(f"{name}/bias")] if cfg.get("use_bias") else [])
            g.nodes.append(
                helper.make_node(
                    "Conv", args, [result], strides=cfg["strides"], pads=pads, group=group, kernel_shape=[kh, kw]
                )
            )
        elif kind == "BatchNormalization":
            if f"{name}/gamma" not in g.raw:  # scale=False (InceptionV3): gamma is one
                count = g.raw[f"{name}/beta"][0].shape
                g.raw[f"{name}/gamma"] = (np.ones(count, np.float32), None)
            names = [g.weight(f"{name}/{p}") for p in ("gamma", "beta", "moving_mean", "moving_variance")]
            g.nodes.append(
                helper.make_node("BatchNormalization", [inputs[0], *names], [result], epsilon=cfg["epsilon"])
            )
        elif kind == "ReLU":
            top = g.name("six")
            g.inits += [
                numpy_helper.from_array(np.array(0, np.float32), top + "_lo"),
                numpy_helper.from_array(np.array(cfg.get("max_value") or 3.4e38, np.float32), top + "_hi"),
            ]
            g.nodes.append(helper.make_node("Clip", [inputs[0], top + "_lo", top + "_hi"], [result]))
        elif kind == "Activation" and cfg["activation"] == "relu":
            g.nodes.append(helper.make_node("Relu", inputs, [result]))
        elif kind == "Add":
            g.nodes.append(helper.make_node("Add", inputs, [result]))
        elif kind == "Concatenate":
            g.nodes.append(helper.make_node("Concat", inputs, [result], axis=1))
        elif kind == "MaxPooling2D":
            assert cfg["padding"] == "valid", cfg
            g.nodes.append(
                helper.make_node("MaxPool", inputs, [result], kernel_shape=cfg["pool_size"], strides=cfg["strides"])
            )
        elif kind == "AveragePooling2D" and cfg["padding"] == "same":  # Keras averages over the real pixels
            kh, kw = cfg["pool_size"]
            g.nodes.append(
                helper.make_node(
                    "AveragePool",
                    inputs,
                    [result],
                    kernel_shape=[kh, kw],
                    strides=cfg["strides"],
                    pads=[kh // 2, kw // 2, kh // 2, kw // 2],
                    count_include_pad=0,
                )
            )
        elif kind == "AveragePooling2D":  # the last one covers the whole feature map
            g.nodes.append(helper.make_node("GlobalAveragePool", inputs, [result]))
        elif kind == "Flatten":
            g.nodes.append(helper.make_node("Flatten", inputs, ["pooled"]))
            result = "pooled"
        elif kind == "Dropout":
            result = inputs[0]
        elif kind == "Dense":
            w, b = g.weight(f"{name}/kernel"), g.weight(f"{name}/bias")
            linear = g.name(name + "_linear")
            g.nodes.append(helper.make_node("Gemm", [inputs[0], w, b], [linear]))
            act = cfg["activation"]
            if act == "relu":
                g.nodes.append(helper.make_node("Relu", [linear], [result]))
            elif act == "softmax":
                g.nodes.append(helper.make_node("Softmax", [linear], ["nsfw"], axis=1))
                result = "nsfw"
            else:
                result = linear
        else:
            raise SystemExit(f"unsupported layer {kind} ({name})")
        out[name] = result
    # Our features: the 1280 pooled ones, the package head's own 128-unit layer (it learned drawings), and the
    # mean and spread of two mid-level blocks (texture: strokes and flat fills against photographic detail).
    if which == "mobilenet_v2" and style:  # more blocks' mean and spread, and the spread of the last features
        parts = ["pooled", out["dense_2"]]
        for block in STYLE_BLOCKS:
            parts += _stats(g, out[block])
        parts.append(_stats(g, out["out_relu"])[1])
        count = STYLE_FEATURES
    elif which == "mobilenet_v2":
        parts = ["pooled", out["dense_2"]]
        for block in MID_BLOCKS:
            parts += _stats(g, out[block])
        count = FEATURES
    else:  # InceptionV3: the 2048 pooled features and the package head's 256 and 128 units
        parts = ["pooled", out["dense_1"], out["dense_2"]]
        count = 2048 + 256 + 128
    size = SIZES[which]
    g.nodes.append(helper.make_node("Concat", parts, ["features"], axis=1))
    graph = helper.make_graph(
        g.nodes,
        f"{which}_nsfwjs",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", count]),
            helper.make_tensor_value_info("nsfw", TensorProto.FLOAT, ["batch", 5]),
        ],
        g.inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="codecalamity")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="4.3.0")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--which", choices=sorted(SIZES), default="mobilenet_v2")
    parser.add_argument("--style", action="store_true", help="mean and spread of five blocks and the last layer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, blob = fetch(args.version, Path(tmp), args.which)
    proto = convert(model, blob, args.which, args.style)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) from nsfwjs {args.version}")


if __name__ == "__main__":
    main()
