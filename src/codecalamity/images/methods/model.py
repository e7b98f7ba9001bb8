"""The learned method: MobileNetV2 features (from the npm package nsfwjs, trained on millions of images) of the
whole picture and of its middle, into a small calibrated linear head trained on drawn art and photographs.

The backbone is an ONNX file run by onnxruntime on the CPU; the head is a few kilobytes of numpy arrays in an
``.npz`` file, which ``calamity images train`` writes for your own folders and ``--model FILE`` loads.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import zipfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from codecalamity._errors import CalamityError
from codecalamity.images.methods import Method, register
from codecalamity.images.types import BGRImage, Mask

BACKBONE = "backbone.onnx"
HEAD = "head.npz"
FEATURES = 1664
# 1280 pooled MobileNetV2 features, 128 units of nsfwjs's head, mean and spread of two mid-level blocks
HEAD_FORMAT = 2
VIEWS = ("whole", "mirror", "center")
CENTER_MARGIN = 0.2
# The ``center`` view drops this share of the height and width on each side and sees the rest at the model's
# size: the middle 60 % at more detail (brush strokes, sensor noise), from an image loaded at twice the size.


class ModelError(CalamityError):
    """A model or head file is missing, damaged or does not fit."""


@dataclasses.dataclass(frozen=True)
class Head:
    """Standardise the features, a linear layer, then Platt scaling: ``P(cartoon) = sigmoid(a * z + b)``.

    The input is the backbone's :data:`FEATURES` numbers of one view; ``views`` says which views of the picture
    are scored (their linear outputs are averaged).
    """

    mean: npt.NDArray[np.float32]
    scale: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]
    bias: float
    platt_a: float
    platt_b: float
    size: int
    info: str = ""
    views: tuple[str, ...] = ("whole",)
    cartoon_above: float = 0.98
    photo_below: float = 0.02
    """Default sort thresholds: chosen on out-of-source (or out-of-fold) scores for 99 % right moves."""
    background: int = 255
    """The grey level that transparent pixels are composited onto before the backbone sees them (heads written
    before it was chosen saw white)."""

    def raw(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The linear output of each row, before calibration."""
        return np.asarray(((features - self.mean) / self.scale) @ self.weights + self.bias, dtype=np.float64)

    def calibrated(self, raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(cartoon) from linear outputs."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.platt_a * raw + self.platt_b, -50, 50)))

    def probability(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """P(cartoon) of each row taken alone."""
        return self.calibrated(self.raw(features))

    def save(self, path: Path) -> None:
        """Write the head as an ``.npz`` file (no pickles)."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                format=np.array(HEAD_FORMAT),
                mean=self.mean,
                scale=self.scale,
                weights=self.weights,
                bias=np.array(self.bias),
                platt=np.array([self.platt_a, self.platt_b]),
                size=np.array(self.size),
                info=np.array(self.info),
                views=np.array(",".join(self.views)),
                thresholds=np.array([self.cartoon_above, self.photo_below]),
                background=np.array(self.background),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | Any) -> Head:
        """Read a head file; :class:`ModelError` if it is not one, or not for these features."""
        try:
            with path.open("rb") as stream, np.load(stream, allow_pickle=False) as data:
                if int(data["format"]) != HEAD_FORMAT:
                    raise ModelError(f"{path}: head format {int(data['format'])} is not {HEAD_FORMAT}")
                head = cls(
                    mean=data["mean"].astype(np.float32),
                    scale=data["scale"].astype(np.float32),
                    weights=data["weights"].astype(np.float32),
                    bias=float(data["bias"]),
                    platt_a=float(data["platt"][0]),
                    platt_b=float(data["platt"][1]),
                    size=int(data["size"]),
                    info=str(data["info"]),
                    views=tuple(str(data["views"]).split(",")),
                    cartoon_above=float(data["thresholds"][0]),
                    photo_below=float(data["thresholds"][1]),
                    background=int(data["background"]) if "background" in data else 255,
                )
        except ModelError:
            raise
        except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile, EOFError) as err:
            raise ModelError(f"{path} is not a calamity model file ({err})") from None
        for name in ("mean", "scale", "weights"):
            if getattr(head, name).shape != (FEATURES,):
                raise ModelError(f"{path}: {name} has shape {getattr(head, name).shape}, expected ({FEATURES},)")
        if not 0.0 <= head.photo_below <= head.cartoon_above <= 1.0:
            raise ModelError(f"{path}: thresholds {head.cartoon_above}, {head.photo_below} are out of order")
        if not head.views or not set(head.views) <= set(VIEWS):
            raise ModelError(f"{path}: unknown views {head.views}")
        if not 0 <= head.background <= 255:
            raise ModelError(f"{path}: background {head.background} is not a grey level")
        if not 64 <= head.size <= 512:
            raise ModelError(f"{path}: input size {head.size} is out of range")
        return head


@functools.cache
def _session() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # idle threads sleep instead of spinning, leaving the cores to the decoding threads and to other programs
    # (on a busy machine: 35 instead of 45 ms of CPU per picture, and a faster run)
    data = (resources.files("codecalamity.images.model") / BACKBONE).read_bytes()
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for damaged files
        raise ModelError(f"the shipped backbone cannot be loaded: {err}") from None


_RUN_LOCK = threading.Lock()


def features(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """1280 features per image of an ``N x 3 x S x S`` RGB batch in [0, 1]."""
    with _RUN_LOCK:  # one inference at a time: each already uses every core
        (out,) = _session().run(["features"], {"input": batch})
    return np.asarray(out, dtype=np.float32)


def to_input(image: BGRImage, size: int) -> npt.NDArray[np.float32]:
    """A loaded BGR image as the backbone's ``3 x S x S`` RGB float input (the whole image, squashed)."""
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def center_input(image: BGRImage, size: int, margin: float = CENTER_MARGIN) -> npt.NDArray[np.float32]:
    """The ``center`` view: the middle of the image, without ``margin`` (a share of each side) on each side."""
    h, w = image.shape[:2]
    dh, dw = round(h * margin), round(w * margin)
    return to_input(np.ascontiguousarray(image[dh : h - dh, dw : w - dw]), size)


def view_inputs(image: BGRImage, size: int, views: Sequence[str]) -> list[npt.NDArray[np.float32]]:
    """The backbone inputs of the named views of one image (``mirror``: the whole image flipped left to right)."""
    base = to_input(image, size)
    out = []
    for view in views:
        if view == "center":
            out.append(center_input(image, size))
        else:
            out.append(base if view == "whole" else np.ascontiguousarray(base[:, :, ::-1]))
    return out


def head_inputs_raw(head: Head, images: Sequence[BGRImage]) -> npt.NDArray[np.float64]:
    """The head's linear output per image, averaged over its views."""
    k = len(head.views)
    batch = np.stack([x for img in images for x in view_inputs(img, head.size, head.views)])
    return np.asarray(head.raw(features(batch)).reshape(len(images), k).mean(axis=1), dtype=np.float64)


def _unused_measure(image: BGRImage, mask: Mask) -> float:
    raise NotImplementedError  # the model scores batches, see ModelMethod.score_batch


@dataclasses.dataclass(frozen=True)
class ModelMethod(Method):
    """The learned method: batches of images through the backbone, then the head."""

    head: Head | None = None

    def score_batch(self, images: Sequence[tuple[BGRImage, Mask]]) -> list[float]:
        assert self.head is not None
        if not images:
            return []
        return [float(p) for p in self.head.calibrated(head_inputs_raw(self.head, [img for img, _ in images]))]


def make(head: Head, name: str = "model") -> ModelMethod:
    """A model method around ``head``."""
    return ModelMethod(
        name=name,
        summary="MobileNetV2 features of the whole picture and its middle, a calibrated linear head",
        size=2 * head.size if "center" in head.views else head.size,
        measure=_unused_measure,
        threshold=0.5,
        slope=1.0,
        cartoon_above=head.cartoon_above,
        photo_below=head.photo_below,
        batch=16,
        background=(head.background,) * 3,
        head=head,
    )


def shipped_head() -> Head:
    """The head trained on the development set, shipped in the package."""
    return Head.load(resources.files("codecalamity.images.model") / HEAD)


def use_head_file(path: Path) -> ModelMethod:
    """Make ``--model FILE`` the ``model`` method for this process."""
    return register(make(Head.load(path)))  # type: ignore[return-value]


if (resources.files("codecalamity.images.model") / HEAD).is_file():  # absent only while tools/model builds it
    register(make(shipped_head()))
