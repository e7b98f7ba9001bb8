"""Type aliases of the images tool."""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

# An H x W x 3 image in OpenCV's BGR order.
BGRImage: TypeAlias = npt.NDArray[np.uint8]
# H x W booleans: True where the image is opaque (its content), False where it was transparent.
Mask: TypeAlias = npt.NDArray[np.bool_]
# What classify() accepts: a path, a file's bytes, or a decoded array.
Source: TypeAlias = str | Path | bytes | npt.NDArray[np.generic]
