"""Which logical cores exist, which are usable, and one logical core per physical core."""

from __future__ import annotations

import os
from pathlib import Path

from codecalamity._errors import UsageError

SYSFS = Path("/sys/devices/system/cpu")


def usable() -> list[int]:
    """Logical cores this process may run on (respects containers' cpusets where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def can_pin() -> bool:
    """Whether workers can be pinned to a core here (not on macOS)."""
    if hasattr(os, "sched_setaffinity"):
        return True
    try:
        import psutil

        return hasattr(psutil.Process(), "cpu_affinity")
    except ImportError:
        return False


def physical(cores: list[int], sysfs: Path = SYSFS) -> list[int]:
    """The first logical core of each physical core among ``cores`` (hyper-threading siblings dropped)."""
    chosen: list[int] = []
    seen: set[tuple[str, str]] = set()
    for core in cores:
        topo = sysfs / f"cpu{core}" / "topology"
        try:
            key = ((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip())
        except OSError:
            return _physical_guess(cores)
        if key not in seen:
            seen.add(key)
            chosen.append(core)
    return chosen


def _physical_guess(cores: list[int]) -> list[int]:
    # Without a topology to read: the tutorial's rule, siblings are adjacent when SMT doubles the count.
    try:
        import psutil

        phys = psutil.cpu_count(logical=False) or len(cores)
    except ImportError:
        phys = len(cores)
    if phys * 2 == len(cores):
        return cores[::2]
    return cores


def parse(spec: str | None, available: list[int]) -> list[int]:
    """``0,2,4`` or ``0-3`` into core ids, checked against ``available``; None means all of them."""
    if spec is None:
        return list(available)
    cores: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                cores += list(range(lo, hi + 1))
            else:
                cores.append(int(part))
        except ValueError:
            raise UsageError(f"--cores: {part!r} is not a core number or range") from None
    missing = [c for c in cores if c not in available]
    if missing:
        raise UsageError(f"no core {missing[0]} here (usable cores: {_ranges(available)})")
    if len(set(cores)) != len(cores):
        raise UsageError("--cores lists a core twice")
    return cores


def _ranges(cores: list[int]) -> str:
    if cores == list(range(cores[0], cores[-1] + 1)):
        return f"{cores[0]}-{cores[-1]}"
    return ",".join(map(str, cores))
