"""`calamity images` commands on real files: classify, sort (kill it mid-run), undo, evaluate, explain."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
from click.testing import CliRunner

from codecalamity.cli import cli
from codecalamity.images.sort import Journal

from .conftest import FIXTURES, synthetic_cartoon, synthetic_photo


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["images", *args])
    return result.exit_code, result.stdout, result.stderr


def test_classify_json_csv_and_failures(mixed_folder: Path) -> None:
    (mixed_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    code, out, err = _run("classify", str(mixed_folder), "--json")
    assert code == 1
    rows = json.loads(out)
    assert len(rows) == 13
    by_name = {Path(r["file"]).name: r for r in rows}
    assert by_name["broken.jpg"]["label"] == "error"
    assert "failed:" in err and "broken.jpg" in err
    assert all(by_name[f"cartoon{i}.png"]["label"] == "cartoon" for i in range(6))
    # the default photo threshold is strict (99 % right moves out of source): a photo may stay unsure, never cartoon
    assert all(by_name[f"photo{i}.jpg"]["label"] in ("photo", "unsure") for i in range(6))
    code, out, _ = _run("classify", str(mixed_folder), "--json", "--photo-below", "0.5", "--cartoon-above", "0.5")
    assert code == 1
    by_name = {Path(r["file"]).name: r for r in json.loads(out)}
    assert all(by_name[f"photo{i}.jpg"]["label"] == "photo" for i in range(6))
    code, out, _ = _run("classify", str(mixed_folder / "cartoon0.png"), "--csv", "--method", "edges")
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["method"] == "edges" and row["label"] in ("cartoon", "unsure")


def test_sort_moves_never_overwrites_and_undo_restores(mixed_folder: Path, tmp_path: Path) -> None:
    dest = tmp_path / "sorted"
    (dest / "cartoon").mkdir(parents=True)
    cv2.imwrite(str(dest / "cartoon" / "cartoon0.png"), synthetic_cartoon(99))  # a name already taken
    (mixed_folder / "broken.png").write_bytes(b"nope")
    before = {p.relative_to(mixed_folder): p.read_bytes() for p in mixed_folder.rglob("*") if p.is_file()}
    code, _, err = _run("sort", str(mixed_folder), "--out", str(dest), "--cartoon-above", "0.5", "--photo-below", "0.5")
    assert code == 1  # the broken file failed and stayed
    assert (mixed_folder / "broken.png").exists()
    assert "failed (left in place)" in err and "broken.png" in err
    assert sorted(p.name for p in (dest / "photo").iterdir()) == [f"photo{i}.jpg" for i in range(6)]
    cartoons = sorted(p.name for p in (dest / "cartoon").iterdir())
    assert "cartoon0 (1).png" in cartoons and len(cartoons) == 7
    assert (dest / "cartoon" / "cartoon0.png").read_bytes() == cv2.imencode(".png", synthetic_cartoon(99))[1].tobytes()
    journal = Path(err.split("journal: ")[1].split()[0])
    assert "journal" in journal.name and journal.parent == dest

    code, _, err = _run("undo", str(journal))
    assert code == 0 and "restored 12" in err
    after = {p.relative_to(mixed_folder): p.read_bytes() for p in mixed_folder.rglob("*") if p.is_file()}
    assert after == before


def test_copy_and_dry_run(mixed_folder: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    code, out, _ = _run("sort", str(mixed_folder), "--out", str(dest), "--dry-run")
    assert code == 0 and "would move" in out and not dest.exists()
    code, _, err = _run(
        "sort", str(mixed_folder), "--out", str(dest), "--copy", "--photo-below", "0.5", "--cartoon-above", "0.5"
    )
    assert code == 0
    assert len(list(mixed_folder.rglob("*.*g"))) == 12  # originals stay
    assert len(list((dest / "photo").iterdir())) == 6
    assert not (dest / ".calamity-tmp").exists()
    journal = Path(err.split("journal: ")[1].split()[0])
    code, _, err = _run("undo", str(journal))
    assert "removed 12" in err
    assert list((dest / "photo").iterdir()) == []


def test_sort_killed_mid_run_leaves_every_file_moved_and_journaled_or_untouched(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    originals = {}
    for i in range(400):
        img = synthetic_cartoon(i, 96) if i % 2 else synthetic_photo(i, 96)
        path = src / f"img{i:03}.png"
        cv2.imwrite(str(path), img)
        originals[path.name] = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "codecalamity", "images", "sort", str(src), "--out", str(dest)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    journal = None
    while time.monotonic() < deadline:
        found = list(dest.glob("*journal*")) if dest.exists() else []
        if found and len(found[0].read_text().splitlines()) >= 20:
            journal = found[0]
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert journal is not None
    entries = {Path(e.src).name: Path(e.dst) for e in Journal.read(journal)}
    assert 0 < len(entries) < 400  # really interrupted mid-run
    moved = 0
    for name, data in originals.items():
        here = src / name
        if here.exists():
            assert here.read_bytes() == data  # untouched
            if name in entries:
                assert not entries[name].exists()  # intent written, never acted on
        else:
            assert name in entries  # moved, and journaled before it moved
            assert entries[name].read_bytes() == data
            moved += 1
    assert moved > 0
    visible = [p for p in dest.rglob("*") if p.is_file() and ".calamity-tmp" not in p.parts and p != journal]
    assert len(visible) == moved  # nothing half-written or extra where a user would look
    code, _, _ = _run("undo", str(journal))
    assert code == 0
    assert {p.name: p.read_bytes() for p in src.iterdir()} == originals


def test_evaluate_json_and_plot(tmp_path: Path) -> None:
    root = tmp_path / "labeled"
    for label, make in (("cartoon", synthetic_cartoon), ("photo", synthetic_photo)):
        (root / label / "deeper").mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(root / label / "deeper" / f"{i}.png"), make(i))
    plot = tmp_path / "plot.png"
    code, out, _ = _run(
        "evaluate", str(root), "--json", "--method", "palette", "--method", "edges", "--plot", str(plot)
    )
    assert code == 0
    report = json.loads(out)
    assert report["n"] == 8
    assert set(report["methods"]) == {"palette", "edges"}
    palette = report["methods"]["palette"]
    assert palette["accuracy"] == 1.0 and palette["recall"] == {"cartoon": 1.0, "photo": 1.0}
    assert palette["images_per_second"] > 0 and 0 <= palette["unsure"] <= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = _run("evaluate", str(root))
    assert code == 0 and all(m in out for m in ("blur", "palette", "edges"))
    code, _, err = _run("evaluate", str(root / "cartoon"))
    assert code == 2 and "no cartoon/ folder" in err


def test_explain_writes_a_sheet(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    image = next(FIXTURES.glob("photo-*.jpg"))
    code, stdout, _ = _run("explain", str(image), "--out", str(out))
    assert code == 0
    assert "palette=" in stdout and "edges=" in stdout and "blur=" in stdout
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] > 1000


def test_usage_errors(tmp_path: Path) -> None:
    code, _, err = _run("classify", str(tmp_path), "--method", "nope")
    assert code == 2 and "unknown method" in err
    code, _, err = _run(
        "sort", str(tmp_path), "--out", str(tmp_path / "o"), "--cartoon-above", "0.1", "--photo-below", "0.9"
    )
    assert code == 2
    shutil.rmtree(tmp_path)
    os.makedirs(tmp_path)
