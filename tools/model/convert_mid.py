#!/usr/bin/env python3
"""nsfwjs's larger MobileNetV2 (``dist/models/mobilenet_v2_mid``, a TF.js *graph* model of a width-1.4
MobileNetV2 from TF Hub with the package's 5-class layer) as an ONNX file with the shipped backbone's interface,
to measure it as a backbone (tools/model/train_head.py --backbone FILE).

    python tools/model/convert_mid.py [--version 4.4.0] [--out .bench-work/models/mnv2_mid.onnx]

Needs npm and node and the `model` extra (onnx). The graph holds only fused convolutions (bias, ReLU6),
fused depthwise convolutions, additions, one average pool and one dense layer, so each node maps to one or two
ONNX nodes; weights are the package's uint8 values dequantized to float32, laid out NCHW. Input:
``N x 3 x 224 x 224`` RGB in [0, 1]. Outputs: ``features`` (the 1792 pooled features, then the mean and spread
of the ``expanded_conv_5`` and ``expanded_conv_12`` block outputs) and ``nsfw`` (the package's five classes).
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "model"))

from convert_effb0 import backbone_model, save_model  # noqa: E402
from convert_nsfwjs import UNPACK  # noqa: E402

DEFAULT_OUT = ROOT / ".bench-work" / "models" / "mnv2_mid.onnx"
STATS = ("expanded_conv_5/add", "expanded_conv_12/add")


def fetch(version: str, work: Path) -> tuple[dict[str, Any], bytes]:
    subprocess.run(["npm", "pack", f"nsfwjs@{version}", "--silent"], cwd=work, check=True, capture_output=True)
    subprocess.run(["tar", "xzf", f"nsfwjs-{version}.tgz"], cwd=work, check=True)
    models = work / "package" / "dist" / "models" / "mobilenet_v2_mid"
    subprocess.run(["node", "-e", UNPACK, str(models), str(work)], check=True)
    return json.loads((work / "model.json").read_text()), (work / "weights.bin").read_bytes()


def weights(model: dict[str, Any], blob: bytes) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    offset = 0
    for group in model["weightsManifest"]:
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            q = spec.get("quantization")
            if q:
                raw = np.frombuffer(blob, np.uint8, count, offset).astype(np.float32)
                offset += count
                value = raw * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                value = np.frombuffer(blob, np.float32, count, offset).copy()
                offset += 4 * count
            out[spec["name"]] = value.reshape(spec["shape"])
    return out


def _strings(node: dict[str, Any], key: str) -> list[str]:
    return [base64.b64decode(s).decode() for s in node["attr"].get(key, {}).get("list", {}).get("s", [])]


def convert(model: dict[str, Any], blob: bytes) -> onnx.ModelProto:
    consts = weights(model, blob)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    graph = {n["name"]: n for n in model["modelTopology"]["node"]}
    names: dict[str, str] = {}
    counter = iter(range(10**6))

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def emit(name: str) -> str:  # the ONNX name of tf node `name`, emitting it (and its inputs) first
        if name in names:
            return names[name]
        node = graph[name]
        op = node["op"]
        ins = [i.split(":")[0] for i in node.get("input", [])]
        out = f"n{next(counter)}"
        if op == "Placeholder":
            out = "input"
        elif op == "Const":
            out = init(out, consts[name])
        elif op in ("Mul", "Sub", "AddV2"):
            a, b = emit(ins[0]), emit(ins[1])
            nodes.append(helper.make_node({"Mul": "Mul", "Sub": "Sub", "AddV2": "Add"}[op], [a, b], [out]))
        elif op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            x = emit(ins[0])
            w = consts[ins[1]]  # H W I O (conv) or H W C M (depthwise)
            bias = consts[ins[2]]
            strides = [int(s) for s in node["attr"]["strides"]["list"]["i"]][1:3]
            pad = base64.b64decode(node["attr"]["padding"]["s"]).decode()
            if op == "_FusedConv2D":
                kernel, group = w.transpose(3, 2, 0, 1), 1
            else:
                h, wd, c, m = w.shape
                kernel, group = w.transpose(2, 3, 0, 1).reshape(c * m, 1, h, wd), c
            conv = out + "_conv" if "Relu6" in _strings(node, "fused_ops") else out
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, init(out + "_w", kernel), init(out + "_b", bias)],
                    [conv],
                    strides=strides,
                    group=group,
                    auto_pad="SAME_UPPER" if pad == "SAME" else "VALID",
                )
            )
            if conv != out:
                nodes.append(helper.make_node("Clip", [conv, "zero", "six"], [out]))
        elif op == "AvgPool":
            nodes.append(helper.make_node("GlobalAveragePool", [emit(ins[0])], [out]))
        elif op == "Squeeze":
            nodes.append(helper.make_node("Flatten", [emit(ins[0])], [out]))
        elif op == "_FusedMatMul":
            nodes.append(
                helper.make_node(
                    "Gemm", [emit(ins[0]), init(out + "_w", consts[ins[1]]), init(out + "_b", consts[ins[2]])], [out]
                )
            )
        elif op in ("Softmax", "Identity"):
            nodes.append(helper.make_node(op, [emit(ins[0])], [out], **({"axis": -1} if op == "Softmax" else {})))
        else:
            raise ValueError(f"unsupported op {op}")
        names[name] = out
        return out

    inits += [
        numpy_helper.from_array(np.array(0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6, np.float32), "six"),
    ]
    probs = emit("Identity")
    pooled = names[next(n for n in graph if n.endswith("feature_vector/SpatialSqueeze"))]
    parts = [pooled]
    for suffix in STATS:
        block = names[next(n for n in graph if n.endswith(suffix))]
        mean, sq, var, std, m2 = (f"{block}_{s}" for s in ("mean", "sq", "var", "std", "m2"))
        nodes += [
            helper.make_node("ReduceMean", [block], [mean + "4"], axes=[2, 3], keepdims=1),
            helper.make_node("Sub", [block, mean + "4"], [m2]),
            helper.make_node("Mul", [m2, m2], [sq]),
            helper.make_node("ReduceMean", [sq], [var], axes=[2, 3], keepdims=0),
            helper.make_node("Sqrt", [var], [std]),
            helper.make_node("Flatten", [mean + "4"], [mean]),
        ]
        parts += [mean, std]
    nodes.append(helper.make_node("Concat", parts, ["features"], axis=1))
    nodes.append(helper.make_node("Identity", [probs], ["nsfw"]))
    return backbone_model(nodes, "mobilenet_v2_mid_nsfwjs", inits, 5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="4.4.0")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, blob = fetch(args.version, Path(tmp))
    save_model(convert(model, blob), args.out)


if __name__ == "__main__":
    main()
