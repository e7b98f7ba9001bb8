"""The learned method: the shipped backbone and head load, shapes and dtypes, fixtures, training, bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from codecalamity.cli import cli
from codecalamity.images import classify, methods
from codecalamity.images.methods.model import FEATURES, Head, ModelError, features, shipped_head, to_input

from .conftest import FIXTURES, synthetic_cartoon, synthetic_photo


def test_model_is_the_default_method() -> None:
    assert classify(synthetic_photo(1)).method == "model"
    method = methods.get("model")
    head = shipped_head()
    assert (method.cartoon_above, method.photo_below) == (head.cartoon_above, head.photo_below)
    assert 0.5 < method.cartoon_above < 1.0 and 0.0 < method.photo_below < 0.5


def test_backbone_shapes_and_dtypes() -> None:
    head = shipped_head()
    batch = np.stack([to_input(synthetic_cartoon(0), head.size), to_input(synthetic_photo(0), head.size)])
    assert batch.shape == (2, 3, head.size, head.size) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    out = features(batch)
    assert out.shape == (2, FEATURES) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert (out[:, : 1280 + 128] >= 0).all()  # pooled ReLU6 activations and the ReLU units of nsfwjs's head
    single = features(batch[:1])
    assert np.allclose(single[0], out[0], atol=1e-4)  # batching does not change an image's features


def test_shipped_model_matches_its_reference_outputs() -> None:
    reference = json.loads((FIXTURES / "model_reference.json").read_text())
    digest = hashlib.sha256()
    for name in ("backbone.onnx", "head.npz"):
        digest.update((resources.files("codecalamity.images.model") / name).read_bytes())
    assert digest.hexdigest() == reference["model_sha256"], "model files changed: run tools/model/reference.py"
    assert len(reference["scores"]) >= 10
    for name, expected in reference["scores"].items():
        assert abs(classify(FIXTURES / name).score - expected) < 0.01, name


HARD = "cartoon-birds_gabbiano_architetto_fr.png"  # shaded, 3D-looking clip art: the hard case
BORDERLINE = "photo-data_astronaut.jpg"  # a posed studio photograph with a flag: out of its source, about 0.5


@pytest.mark.parametrize(
    "path", [p for p in sorted(FIXTURES.glob("*.*g")) if p.name not in (HARD, BORDERLINE)], ids=lambda p: p.name
)
def test_fixture_images_are_classified_as_expected(path: Path) -> None:
    verdict = classify(path)
    expected = path.name.split("-")[0]
    assert (verdict.score >= 0.5) == (expected == "cartoon"), verdict


def test_the_hard_fixture_is_unsure_rather_than_wrong() -> None:
    assert classify(FIXTURES / HARD).label == "unsure"
    assert classify(FIXTURES / BORDERLINE).label in ("photo", "unsure")  # never moved among the drawings


def test_train_on_a_tiny_generated_folder_then_use_it(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for label, make in (("cartoon", synthetic_cartoon), ("photo", synthetic_photo)):
        (root / label).mkdir(parents=True)
        for i in range(10):
            cv2.imwrite(str(root / label / f"{i}.png"), make(100 + i, 96))
    out = tmp_path / "mine.npz"
    result = CliRunner().invoke(cli, ["images", "train", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.stdout
    head = Head.load(out)
    assert head.weights.shape == (FEATURES,) and head.views == ("whole", "center")
    assert 0.5 <= head.cartoon_above <= 1.0 and 0.0 <= head.photo_below <= 0.5
    probe = tmp_path / "probe.png"
    cv2.imwrite(str(probe), synthetic_cartoon(999, 96))
    result = CliRunner().invoke(cli, ["images", "classify", str(probe), "--json", "--model", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["method"] == "model" and row["score"] > 0.5


def test_bad_training_folders(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "a" / "cartoon").mkdir(parents=True)
    result = runner.invoke(cli, ["images", "train", str(tmp_path / "a"), "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 2 and "no photo/ folder" in result.stderr
    (tmp_path / "a" / "photo").mkdir()
    for i in range(9):
        cv2.imwrite(str(tmp_path / "a" / "photo" / f"{i}.png"), synthetic_photo(i, 64))
    result = runner.invoke(cli, ["images", "train", str(tmp_path / "a"), "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 2 and "at least 8 per class" in result.stderr
    for i in range(9):
        cv2.imwrite(str(tmp_path / "a" / "cartoon" / f"{i}.png"), synthetic_cartoon(i, 64))
    (tmp_path / "a" / "cartoon" / "broken.png").write_bytes(b"\x89PNG broken")
    result = runner.invoke(cli, ["images", "train", str(tmp_path / "a"), "--out", str(tmp_path / "m.npz")])
    assert result.exit_code == 2 and "cannot be read" in result.stderr and "broken.png" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_the_model_sees_transparent_pixels_on_its_heads_grey(tmp_path: Path) -> None:
    head = shipped_head()
    assert methods.get("model").background == (head.background,) * 3 != (255, 255, 255)
    picture = synthetic_photo(7, 160)
    alpha = np.zeros(picture.shape[:2], np.uint8)
    alpha[30:130, 40:120] = 255  # an opaque cut-out on a transparent canvas
    cutout = tmp_path / "cutout.png"
    cv2.imwrite(str(cutout), np.dstack([picture, alpha]))
    flat = np.where(alpha[:, :, None] > 0, picture, np.uint8(head.background))
    on_grey, on_white = tmp_path / "grey.png", tmp_path / "white.png"
    cv2.imwrite(str(on_grey), flat)
    cv2.imwrite(str(on_white), np.where(alpha[:, :, None] > 0, picture, np.uint8(255)))
    assert classify(cutout).score == pytest.approx(classify(on_grey).score, abs=1e-6)
    assert classify(cutout).score != pytest.approx(classify(on_white).score, abs=1e-6)
    # a head written before the background was chosen saw white, and still loads
    older = tmp_path / "older.npz"
    with np.load(Path(__file__).parents[2] / "src" / "codecalamity" / "images" / "model" / "head.npz") as data:
        np.savez(older, **{k: data[k] for k in data.files if k != "background"})
    assert Head.load(older).background == 255
    dataclasses.replace(head, background=300).save(older)
    with pytest.raises(ModelError, match="not a grey level"):
        Head.load(older)


def test_bad_model_files_are_a_clear_error(tmp_path: Path) -> None:
    shipped = Path(__file__).parents[2] / "src" / "codecalamity" / "images" / "model" / "head.npz"
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(shipped.read_bytes()[:200])
    with pytest.raises(ModelError, match="not a calamity model file"):
        Head.load(truncated)
    wrong = tmp_path / "wrong.npz"
    head = shipped_head()
    Head(head.mean[:10], head.scale[:10], head.weights[:10], 0.0, 1.0, 0.0, 224).save(wrong)
    with pytest.raises(ModelError, match=f"expected \\({FEATURES},\\)"):
        Head.load(wrong)
    dataclasses.replace(head, cartoon_above=0.1, photo_below=0.9).save(wrong)
    with pytest.raises(ModelError, match="out of order"):
        Head.load(wrong)
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), synthetic_photo(1))
    result = CliRunner().invoke(cli, ["images", "classify", str(image), "--model", str(truncated)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "not a calamity model file" in result.stderr
