"""Running for real, briefly: the controller's accuracy (loose bound), stopping, and no orphan workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from codecalamity.paint import cores

CALAMITY = [sys.executable, "-m", "codecalamity"]
CORE = cores.usable()[-1]


def test_controller_holds_the_target_on_one_core() -> None:
    from codecalamity.paint.sensor import busy_shares

    others = 100 * busy_shares([CORE], 0.5)[CORE]
    if others > 50:  # a shared machine: other programs leave no room for our 40 % (CI runs alone)
        pytest.skip(f"core {CORE} is already at {others:.0f} %")
    script = textwrap.dedent(
        f"""
        import os
        from codecalamity.paint.control import hold
        os.sched_setaffinity(0, {{{CORE}}})
        print(hold(lambda elapsed: 40.0, 3.0).own)
        """
    )
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its rusage
    assert proc.stdout is not None
    reported = float(proc.stdout.read())
    proc.stdout.close()
    assert proc.returncode == 0
    assert 37 <= reported <= 43  # loose: the machines here are noisy; benchmarks/cpu_paint.py has the figures
    measured = 100 * (usage.ru_utime + usage.ru_stime) / wall  # seen from outside, start-up included
    assert 25 <= measured <= 50


def test_paint_runs_and_reports(tmp_path: Path) -> None:
    from codecalamity.paint.sensor import busy_shares

    others = 100 * busy_shares([CORE], 0.5)[CORE]
    if others > 30:  # a shared machine: other programs leave no room to show 60 % (CI runs alone)
        pytest.skip(f"core {CORE} is already at {others:.0f} %")
    result = subprocess.run(
        [*CALAMITY, "paint", "--levels", "60", "--cores", str(CORE), "--duration", "2s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    load = float(result.stderr.split(f"{CORE}: ")[1].split("%")[0])
    assert 50 <= load <= 70


def _workers(parent: psutil.Process, want: int, timeout: float = 20) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
        if len(found) >= want:
            return found
        time.sleep(0.05)
    raise AssertionError("workers did not start")


def _all_gone(procs: list[psutil.Process], timeout: float = 10) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return not alive


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_workers_never_outlive_the_parent(sig: int) -> None:
    usable = cores.usable()
    proc = subprocess.Popen(
        [*CALAMITY, "paint", "--levels", ",".join("20" for _ in usable), "--duration", "60s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = _workers(psutil.Process(proc.pid), len(usable))
    started = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=20)
    assert _all_gone(workers)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--levels", "50", "--cores", "999"], "no core 999"),
        (["--levels", "50", "--cores", "0-999"], "no core"),
        (["--levels", "150"], "0-100"),
        (["--levels", "abc"], "numbers 0-100"),
        (["--image", "/nonexistent.png"], "cannot read image"),
        (["   "], "empty"),
        ([], "exactly one of"),
        (["HI", "--levels", "5"], "exactly one of"),
        (["HI", "--duration", "0"], "longer than zero"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    result = subprocess.run([*CALAMITY, "paint", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
