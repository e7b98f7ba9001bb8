#!/usr/bin/env python3
"""Several backbone files as one: the same ``input``, their ``features`` side by side (in the order given), and the
first one's ``nsfw`` output. The runtime (codecalamity.images.methods.model) runs one file, so a head fitted on
several backbones' features (tools/model/train_head.py --backbone A --backbone B) ships as their merge.

    python tools/model/merge_backbones.py OUT A.onnx B.onnx [...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import onnx
from onnx import helper


def merge(models: list[onnx.ModelProto]) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    features = []
    opset = max(next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) for m in models)
    for i, model in enumerate(models):
        g = onnx.compose.add_prefix(model, f"b{i}_").graph
        rename = {f"b{i}_input": "input"}
        for node in g.node:
            node.input[:] = [rename.get(x, x) for x in node.input]
        nodes += g.node
        inits += g.initializer
        features.append(f"b{i}_features")
    nodes.append(helper.make_node("Concat", features, ["features"], axis=1))
    nodes.append(helper.make_node("Identity", ["b0_nsfw"], ["nsfw"]))
    first = models[0].graph
    nsfw = next(o for o in first.output if o.name == "nsfw")
    graph = helper.make_graph(
        nodes,
        "+".join(m.graph.name for m in models),
        [first.input[0]],
        [helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["N", None]), nsfw],
        inits,
    )
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    out.ir_version = max(m.ir_version for m in models)
    onnx.checker.check_model(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("models", nargs="+", type=Path)
    args = parser.parse_args()
    onnx.save(merge([onnx.load(str(p)) for p in args.models]), str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
