"""Benchmark: how closely each method holds a target load on one pinned core.

    python benchmarks/cpu_paint.py [--seconds 15]

For targets 10-90 %, runs each method alone on the last usable core and measures the load it achieved from its
own CPU time (all its processes, start-up excluded): our controller, `stress-ng --cpu 1 --cpu-load P --taskset N`
and the tutorial's sleep table ported to Linux. Then the same while another process (stress-ng at 30 %) loads
the same core. Finally, how closely a drawing is followed over time: per-second error of our controller
against a staircase that changes every 3 s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import textwrap
import time

import psutil

from codecalamity.paint import cores

TARGETS = (10, 30, 50, 70, 90)

OURS = """
import os, sys
from codecalamity.paint.control import hold
os.sched_setaffinity(0, {{{core}}})
hold(lambda elapsed: {target}, {seconds})
"""

# The tutorial's final code, ported to Linux: sched_setaffinity instead of SetProcessAffinityMask; levels
# without a table entry (none here) would have raised KeyError in the original too.
TUTORIAL = """
import math, os, time
from itertools import count
usage_to_sleep_time = {{100: 0, 90: 0.014, 80: 0.02, 70: 0.03, 60: 0.04, 50: 0.06, 40: 0.08, 30: 0.1, 20: 0.2,
                        10: 0.5}}
def run_benchmark(cpu_core=0, timeout=60, usage=100):
    start_time = time.perf_counter()
    os.sched_setaffinity(0, {{cpu_core}})
    for num in count():
        if num % 100_000 == 0.0:
            if time.perf_counter() > start_time + timeout:
                return num
            if usage != 100:
                time.sleep(usage_to_sleep_time[usage])
        math.sqrt(num)
run_benchmark({core}, {seconds}, {target})
"""


def command(method: str, core: int, target: int, seconds: float) -> list[str]:
    if method == "ours":
        return [sys.executable, "-c", OURS.format(core=core, target=target, seconds=seconds)]
    if method == "tutorial":
        return [sys.executable, "-c", TUTORIAL.format(core=core, target=target, seconds=seconds)]
    return [
        "stress-ng",
        "--cpu",
        "1",
        "--cpu-load",
        str(target),
        "--taskset",
        str(core),
        "--timeout",
        f"{int(seconds)}s",
        "--quiet",
    ]


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def achieved(method: str, core: int, target: int, seconds: float, warmup: float = 1.5) -> float:
    proc = subprocess.Popen(command(method, core, target, seconds + warmup + 2), stdout=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    time.sleep(warmup)
    c0, w0 = cpu_seconds(ps), time.monotonic()
    time.sleep(seconds)
    c1, w1 = cpu_seconds(ps), time.monotonic()
    proc.kill()
    for child in ps.children(recursive=True) if ps.is_running() else []:
        child.kill()
    proc.wait()
    return 100.0 * (c1 - c0) / (w1 - w0)


def table(core: int, seconds: float, label: str) -> dict[str, list[float]]:
    print(f"\n{label}: core {core}, {seconds:g} s per level")
    print(f"{'target':>6}  {'ours':>8}  {'stress-ng':>9}  {'tutorial':>8}")
    errors: dict[str, list[float]] = {"ours": [], "stress-ng": [], "tutorial": []}
    for target in TARGETS:
        row = {m: achieved(m, core, target, seconds) for m in errors}
        for m, v in row.items():
            errors[m].append(abs(v - target))
        print(f"{target:6d}  {row['ours']:8.2f}  {row['stress-ng']:9.2f}  {row['tutorial']:8.2f}")
    mae = {m: sum(v) / len(v) for m, v in errors.items()}
    print(f"{'MAE':>6}  {mae['ours']:8.2f}  {mae['stress-ng']:9.2f}  {mae['tutorial']:8.2f}  (percentage points)")
    worst = {m: max(v) for m, v in errors.items()}
    print(f"{'worst':>6}  {worst['ours']:8.2f}  {worst['stress-ng']:9.2f}  {worst['tutorial']:8.2f}")
    return errors


def follow(core: int, step: float = 3.0) -> None:
    levels = [10, 30, 50, 70, 90, 70, 50, 30, 10]
    script = textwrap.dedent(
        f"""
        import os
        from codecalamity.paint.control import hold
        os.sched_setaffinity(0, {{{core}}})
        levels = {levels}
        hold(lambda e: levels[min(int(e // {step}), len(levels) - 1)], {step * len(levels)})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    ps = psutil.Process(proc.pid)
    time.sleep(0.6)  # imports
    samples = []
    c_prev, w_prev = cpu_seconds(ps), time.monotonic()
    start = w_prev
    while proc.poll() is None:
        time.sleep(1.0)
        c, w = cpu_seconds(ps), time.monotonic()
        samples.append((w_prev - start, w - start, 100 * (c - c_prev) / (w - w_prev)))
        c_prev, w_prev = c, w
    errors = []
    for t0, t1, load in samples:
        # the hold loop started about when we began sampling; compare with the target of that second
        column = int(((t0 + t1) / 2) // step)
        if column < len(levels) and int(t0 // step) == int(t1 // step):
            errors.append(abs(load - levels[column]))
    if errors:
        print(
            f"\ndrawing over time (staircase, {step:g} s per column): per-second error of ours "
            f"mean {sum(errors) / len(errors):.2f}, worst {max(errors):.2f} points over {len(errors)} seconds"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    if shutil.which("stress-ng") is None:
        sys.exit("stress-ng is missing: make bench installs it (apt-get install stress-ng)")
    core = cores.usable()[-1]
    alone = table(core, args.seconds, "alone")
    background = subprocess.Popen(
        ["stress-ng", "--cpu", "1", "--cpu-load", "30", "--taskset", str(core), "--quiet"], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(1)
        loaded = table(core, args.seconds, "with another process loading the same core at 30 %")
    finally:
        background.terminate()
        background.wait()
    for m in alone:
        d = sum(loaded[m]) / len(loaded[m]) - sum(alone[m]) / len(alone[m])
        print(f"degradation under load, {m}: {d:+.2f} points MAE")
    follow(core)


if __name__ == "__main__":
    main()
