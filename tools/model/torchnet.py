"""nsfwjs's MobileNetV2 as a PyTorch module, built from the package's own Keras layer list and weights (the same
walk as convert_nsfwjs.py), so that its last blocks can be fine-tuned on the CPU and written back as weights the
converter turns into ONNX. Training-tools only (the `finetune` extra): the package never imports torch.

Batch normalisation stays in inference form (the package's moving statistics, frozen; its scale and shift may
train), so small batches are fine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def dequantize(model: dict[str, Any], blob: bytes) -> dict[str, np.ndarray]:
    """The package's weights as float32 arrays in Keras layout, by name."""
    out = {}
    offset = 0
    for spec in model["weightsManifest"][0]["weights"]:
        shape = spec["shape"]
        count = int(np.prod(shape)) if shape else 1
        quant = spec.get("quantization")
        dtype = np.uint8 if quant else np.float32
        values = np.frombuffer(blob, dtype, count, offset).reshape(shape)
        offset += count * np.dtype(dtype).itemsize
        if quant:
            values = values.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
        out[spec["name"]] = np.asarray(values, np.float32)
    return out


def _key(name: str) -> str:
    return name.replace("/", "__")


class KerasNet(nn.Module):
    """The layer graph of a Keras MobileNetV2 layers model, run in NCHW on torch tensors."""

    def __init__(self, model: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.layers = model["modelTopology"]["model_config"]["config"]["layers"]
        self.params = nn.ParameterDict()
        self.stats: dict[str, torch.Tensor] = {}
        for name, w in weights.items():
            t = torch.from_numpy(w.copy())
            if name.endswith("/depthwise_kernel"):
                h, wd, cin, mult = w.shape
                t = t.permute(2, 3, 0, 1).reshape(cin * mult, 1, h, wd)
            elif name.endswith("/kernel") and w.ndim == 4:
                t = t.permute(3, 2, 0, 1)
            elif name.endswith("/kernel"):  # Dense: (in, out) -> torch Linear's (out, in)
                t = t.t()
            if name.endswith(("moving_mean", "moving_variance")):
                self.register_buffer(_key(name), t.contiguous())
            else:
                self.params[_key(name)] = nn.Parameter(t.contiguous())
        self.index = {layer["name"]: i for i, layer in enumerate(self.layers)}

    def p(self, name: str) -> torch.Tensor:
        key = _key(name)
        if key in self.params:
            return self.params[key]
        return getattr(self, key)  # type: ignore[no-any-return]

    def run(self, values: dict[str, torch.Tensor], start: str | None, stop: str) -> dict[str, torch.Tensor]:
        """Run the layers after ``start`` (from the input when None) up to and including ``stop``."""
        first = 0 if start is None else self.index[start] + 1
        out = dict(values)
        for layer in self.layers[first : self.index[stop] + 1]:
            kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
            ins = [out[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            if kind == "InputLayer":
                continue
            x = ins[0] if ins else None
            if kind == "ZeroPadding2D":
                (top, bottom), (left, right) = cfg["padding"]
                y = F.pad(x, (left, right, top, bottom))
            elif kind in ("Conv2D", "DepthwiseConv2D"):
                kh, kw = cfg["kernel_size"]
                pad = (kh // 2, kw // 2) if cfg["padding"] == "same" else (0, 0)
                if kind == "Conv2D":
                    w, groups = self.p(f"{name}/kernel"), 1
                else:
                    w = self.p(f"{name}/depthwise_kernel")
                    groups = w.shape[0]
                b = self.p(f"{name}/bias") if cfg.get("use_bias") else None
                y = F.conv2d(x, w, b, stride=tuple(cfg["strides"]), padding=pad, groups=groups)
            elif kind == "BatchNormalization":
                mean, var = self.p(f"{name}/moving_mean"), self.p(f"{name}/moving_variance")
                gamma, beta = self.p(f"{name}/gamma"), self.p(f"{name}/beta")
                y = F.batch_norm(x, mean, var, gamma, beta, False, 0.0, cfg["epsilon"])
            elif kind == "ReLU":
                y = torch.clamp(x, 0.0, cfg.get("max_value") or 3.4e38)
            elif kind == "Activation" and cfg["activation"] == "relu":
                y = F.relu(x)
            elif kind == "Add":
                y = ins[0] + ins[1]
            elif kind == "AveragePooling2D":
                y = x.mean(dim=(2, 3), keepdim=True)
            elif kind == "Flatten":
                y = x.flatten(1)
            elif kind == "Dropout":
                y = x
            elif kind == "Dense":
                y = F.linear(x, self.p(f"{name}/kernel"), self.p(f"{name}/bias"))
                if cfg["activation"] == "relu":
                    y = F.relu(y)
                elif cfg["activation"] == "softmax":
                    y = F.softmax(y, dim=1)
            else:
                raise SystemExit(f"unsupported layer {kind} ({name})")
            out[name] = y
        return out

    def layer_params(self, after: str) -> list[nn.Parameter]:
        """The trainable weights of the layers after ``after`` up to the pooled features."""
        names = {layer["name"] for layer in self.layers[self.index[after] + 1 : self.index["out_relu"] + 1]}
        return [p for k, p in self.params.items() if k.split("__")[0] in names]

    def keras_weights(self) -> dict[str, np.ndarray]:
        """Every weight back in Keras layout, float32, by the package's names."""
        out = {}
        for key, t in [*self.params.items(), *self.named_buffers()]:
            name = key.replace("__", "/")
            w = t.detach().cpu().numpy()
            if name.endswith("/depthwise_kernel"):
                cin = w.shape[0]
                w = w.reshape(cin, 1, w.shape[2], w.shape[3]).transpose(2, 3, 0, 1)
            elif name.endswith("/kernel") and w.ndim == 4:
                w = w.transpose(2, 3, 1, 0)
            elif name.endswith("/kernel"):
                w = w.T
            out[name] = np.ascontiguousarray(w, np.float32)
        return out


def moments(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and spread over the image, as convert_nsfwjs.py's features compute them."""
    m = x.mean(dim=(2, 3))
    var = (x * x).mean(dim=(2, 3)) - m * m
    return torch.cat([m, torch.sqrt(torch.clamp(var, min=0.0))], dim=1)
