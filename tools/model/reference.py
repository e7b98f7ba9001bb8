#!/usr/bin/env python3
"""Write the shipped model's scores of the test fixtures (tests/images/fixtures/model_reference.json), which
tests/images/test_model.py checks within a tolerance. Run it after rebuilding the head or the backbone.

    python tools/model/reference.py
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from codecalamity.images import classify

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "images" / "fixtures"


def model_digest() -> str:
    """sha256 of the shipped backbone and head together: the reference belongs to exactly these files."""
    digest = hashlib.sha256()
    for name in ("backbone.onnx", "head.npz"):
        digest.update((resources.files("codecalamity.images.model") / name).read_bytes())
    return digest.hexdigest()


def main() -> None:
    scores = {p.name: round(classify(p).score, 6) for p in sorted(FIXTURES.glob("*.*g"))}
    out = FIXTURES / "model_reference.json"
    out.write_text(json.dumps({"model_sha256": model_digest(), "scores": scores}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
