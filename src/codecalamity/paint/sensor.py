"""What a per-core monitor sees: a core's cumulative busy time, as the OS accounts it for every program.

Linux: the core's line of ``/proc/stat`` (what top, htop, GNOME and KDE's monitors and psutil read), kept open and
re-read from offset 0, a few tens of microseconds. Elsewhere: psutil's per-CPU times, which come from the same
counters as Task Manager (Windows) and Activity Monitor (macOS). Busy is everything but idle and iowait, as
psutil's ``cpu_percent`` counts it. The counters are coarse (Linux reports 10 ms units, sampled at each timer
tick), so callers compare them over windows of a second or so, never over one period.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO, Protocol

PROC_STAT = Path("/proc/stat")
USER_HZ = 100
# Units of ``/proc/stat``: fixed at 100 per second for user space on every Linux architecture (``USER_HZ``).


class CoreClock(Protocol):
    """Cumulative busy seconds of one logical core, for every program on it."""

    def busy(self) -> float: ...

    def close(self) -> None: ...


class ProcStat:
    """One core's busy time from its ``cpuN`` line of ``/proc/stat`` (Linux)."""

    def __init__(self, core: int, path: Path = PROC_STAT) -> None:
        self._file: BinaryIO = path.open("rb", buffering=0)
        self._key = b"\ncpu%d " % core
        if self._key not in self._read():
            self._file.close()
            raise OSError(f"{path} has no line for core {core}")

    def _read(self) -> bytes:
        self._file.seek(0)
        return self._file.read(1 << 16)

    def busy(self) -> float:
        """Busy seconds since boot: user, nice, system, irq, softirq and steal (guest time is inside user)."""
        data = self._read()
        start = data.index(self._key) + len(self._key)
        fields = data[start : data.index(b"\n", start)].split()
        user, nice, system, _idle, _iowait, irq, softirq, *rest = (int(f) for f in fields)
        steal = rest[0] if rest else 0
        return (user + nice + system + irq + softirq + steal) / USER_HZ

    def close(self) -> None:
        self._file.close()


class PsutilTimes:
    """One core's busy time from ``psutil.cpu_times(percpu=True)`` (Windows, macOS, the BSDs)."""

    def __init__(self, core: int) -> None:
        import psutil

        self._psutil = psutil
        self._core = core
        if core >= len(psutil.cpu_times(percpu=True)):
            raise OSError(f"the OS reports no times for core {core}")

    def busy(self) -> float:
        """Busy seconds: psutil's total minus idle (and minus iowait, where the OS has it)."""
        times = self._psutil.cpu_times(percpu=True)[self._core]
        fields = times._asdict()
        # guest time is already inside user time on Linux; psutil's cpu_percent leaves it out the same way
        total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))
        return float(total - fields["idle"] - fields.get("iowait", 0.0))

    def close(self) -> None:
        """Nothing to release."""


def open_clock(core: int) -> CoreClock:
    """The best busy-time counter for ``core`` here: ``/proc/stat`` where it exists, else psutil.

    Raises
    ------
    OSError
        When neither can report this core.
    """
    if PROC_STAT.exists():
        try:
            return ProcStat(core)
        except OSError:
            pass
    return PsutilTimes(core)


def busy_shares(cores: list[int], seconds: float) -> dict[int, float]:
    """Each core's busy share (0-1) over the next ``seconds``, all cores measured over the same interval."""
    clocks = {core: open_clock(core) for core in cores}
    try:
        start = time.monotonic()
        before = {core: clock.busy() for core, clock in clocks.items()}
        time.sleep(seconds)
        after = {core: clock.busy() for core, clock in clocks.items()}
        wall = time.monotonic() - start
    finally:
        for clock in clocks.values():
            clock.close()
    return {core: min(1.0, max(0.0, (after[core] - before[core]) / wall)) for core in cores}
