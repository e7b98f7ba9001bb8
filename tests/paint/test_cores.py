"""Core selection: ranges, bad ids, and one logical core per physical core from the CPU topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecalamity._errors import UsageError
from codecalamity.paint import cores


def test_parse() -> None:
    assert cores.parse("0,2", [0, 1, 2, 3]) == [0, 2]
    assert cores.parse("1-3", [0, 1, 2, 3]) == [1, 2, 3]
    assert cores.parse(None, [0, 1]) == [0, 1]


@pytest.mark.parametrize(
    ("spec", "message"), [("7", "no core 7"), ("0-9", "no core 4"), ("a", "not a core"), ("1,1", "twice")]
)
def test_bad_core_lists(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cores.parse(spec, [0, 1, 2, 3])


def test_usable_cores_exist() -> None:
    assert cores.usable()


def _sysfs(tmp_path: Path, topology: dict[int, tuple[int, int]]) -> Path:
    for cpu, (package, core) in topology.items():
        folder = tmp_path / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text(f"{package}\n")
        (folder / "core_id").write_text(f"{core}\n")
    return tmp_path


def test_physical_drops_hyperthread_siblings(tmp_path: Path) -> None:
    # siblings listed far apart, as on most Intel machines: cpu0/cpu4 share core 0, and so on
    sysfs = _sysfs(tmp_path, {0: (0, 0), 1: (0, 1), 2: (0, 2), 3: (0, 3), 4: (0, 0), 5: (0, 1), 6: (0, 2), 7: (0, 3)})
    assert cores.physical(list(range(8)), sysfs) == [0, 1, 2, 3]
    assert cores.physical([4, 5, 2], sysfs) == [4, 5, 2]


def test_physical_on_this_machine_is_a_subset() -> None:
    usable = cores.usable()
    chosen = cores.physical(usable)
    assert chosen and set(chosen) <= set(usable)
