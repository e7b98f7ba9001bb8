"""Benchmark: how closely each method makes one core's monitor show a target load, alone and beside other load.

    python benchmarks/cpu_paint.py [--seconds 8] [--repeat 3] [--skip-step]

Everything is measured from the outside, as a per-core monitor sees it: the core's busy share from its line of
/proc/stat (every program on the core, tick-sampled, 10 ms units), over ``--seconds`` after a warm-up. Methods, on
the last usable core, one at a time: ours (``calamity paint --levels T --cores N``, default mode: the total follows
the target), ``stress-ng --cpu 1 --cpu-load T --taskset N`` and the tutorial's sleep table ported to Linux. First
alone, then beside a second process that holds the same core at 20 % and at 40 % of its own CPU time (a pinned
duty-cycle burner: our controller in ``--own-share`` mode, which holds its own share to about 0.1 point). With a
background, errors count over targets at or above it (below it nobody can go). This benchmark process runs on
another core. Each cell is the median of ``--repeat`` runs; the spread (max - min) says how noisy the machine was,
and ``others`` is the load already on the core before each run (other users of a shared machine).

Then a drawing over time: our workers on a staircase that changes every 3 s, the core sampled every 10 ms; how
much of each step the monitor shows within 100/200/500 ms, the error of the first whole 1 s monitor sample after a
change, and the equivalent lag (the step's missing area divided by its height). The peers cannot change level in a
running process (stress-ng and the tutorial start a process per level), so they have no row there.

``--lab``: when the machine is busy (other programs fill every core, so the monitor shows 100 % whatever we do),
the same loop on an exact clock of just the programs on the core; run it as
``setsid sh -c 'echo -20 > /proc/self/autogroup; exec python benchmarks/cpu_paint.py --lab'`` so that the
kernel's per-session fairness (autogroups) gives it the core.
"""

from __future__ import annotations

import argparse
import bisect
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

from codecalamity.paint import cores
from codecalamity.paint.pattern import Pattern
from codecalamity.paint.sensor import ProcStat
from codecalamity.paint.workers import Painter

TARGETS = (10, 30, 50, 70, 90)
BACKGROUNDS = (0, 20, 40)
METHODS = ("ours", "stress-ng", "tutorial")

# A second program holding the core at a known share of its own CPU time, whatever else runs there.
BURNER = """
import os
from codecalamity.paint.control import hold
os.sched_setaffinity(0, {{{core}}})
hold(lambda elapsed: {share}, 1e9)
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


ALL_CORES: set[int] = set()
# Every core this benchmark may use; it pins itself to the others, and its children must not inherit that.


def popen(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``cmd`` free to run on every core (this process keeps itself off the measured one)."""
    return subprocess.Popen(cmd, preexec_fn=_unpinned, **kwargs)


def _unpinned() -> None:
    if ALL_CORES:
        os.sched_setaffinity(0, ALL_CORES)


def command(method: str, core: int, target: int, seconds: float) -> list[str]:
    if method == "ours":
        levels = ["--levels", str(target), "--cores", str(core), "--duration", f"{seconds:.0f}s"]
        return [sys.executable, "-m", "codecalamity", "paint", *levels]
    if method == "tutorial":
        return [sys.executable, "-c", TUTORIAL.format(core=core, target=target, seconds=seconds)]
    return ["stress-ng", "--cpu", "1", "--cpu-load", str(target), "--taskset", str(core)]
    # (stress-ng runs until killed)


def busy_share(clock: ProcStat, seconds: float) -> float:
    """The core's busy share in percent over the next ``seconds``, as a monitor computes it."""
    b0, t0 = clock.busy(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (clock.busy() - b0) / (time.monotonic() - t0)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


QUIET = 10.0
# Points of load from other programs (beyond our own background burner) under which a cell may start.
QUIET_WAIT = 90.0
# Seconds a cell waits for that; then it runs anyway, and the "others" column shows what it ran beside.


def wait_quiet(clock: ProcStat, background: int) -> float:
    """Wait (a while) until others' load on the core is low; return it, in percent."""
    deadline = time.monotonic() + QUIET_WAIT
    others = busy_share(clock, 1.0) - background
    while others > QUIET and time.monotonic() < deadline:  # a shared machine: wait for a quiet moment
        others = busy_share(clock, 1.0) - background
    return others


def achieved(
    method: str, core: int, target: int, seconds: float, background: int, warmup: float = 3.0
) -> tuple[float, float]:
    """(total with the method running, others' load just before it started), in percent of the core."""
    clock = ProcStat(core)
    try:
        before = wait_quiet(clock, background)
        proc = popen(
            command(method, core, target, seconds + warmup + 3),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(warmup)  # start-up: imports, spawning the worker, its idle measurement
            return busy_share(clock, seconds), before
        finally:
            stop(proc)
    finally:
        clock.close()


def table(core: int, seconds: float, repeat: int, background: int) -> dict[str, float]:
    """Print one table (targets x methods, medians of ``repeat``); return each method's mean error."""
    label = "alone" if background == 0 else f"beside a process holding the core at {background} %"
    print(f"\n{label}: core {core}, {seconds:g} s per cell, median of {repeat} (spread max-min)", flush=True)
    print(f"{'target':>6}  " + "  ".join(f"{m:>17}" for m in METHODS) + f"  {'others':>6}")
    burner = None
    if background:
        burner = popen([sys.executable, "-c", BURNER.format(core=core, share=background)])
        time.sleep(1.5)
    errors: dict[str, list[float]] = {m: [] for m in METHODS}
    try:
        for target in TARGETS:
            cells, others = [], []
            for method in METHODS:
                runs = []
                for _ in range(repeat):
                    total, before = achieved(method, core, target, seconds, background)
                    runs.append(total)
                    others.append(before)
                median = statistics.median(runs)
                cells.append(f"{median:8.2f} ({max(runs) - min(runs):5.2f})")
                if target >= background:
                    errors[method].append(abs(median - target))
            note = "" if target >= background else "  (below the background: not counted)"
            print(f"{target:6d}  " + "  ".join(f"{c:>17}" for c in cells) + f"  {statistics.median(others):6.2f}{note}")
    finally:
        if burner is not None:
            stop(burner)
    mae = {m: sum(v) / len(v) for m, v in errors.items()}
    print(f"{'MAE':>6}  " + "  ".join(f"{mae[m]:17.2f}" for m in METHODS) + "  (points of total core load)")
    worst = {m: max(v) for m, v in errors.items()}
    print(f"{'worst':>6}  " + "  ".join(f"{worst[m]:17.2f}" for m in METHODS), flush=True)
    return mae


def step_response(core: int, background: int, step: float = 3.0) -> None:
    """Our workers on a staircase; the core's total sampled every 10 ms from here; response to each change."""
    levels = STAIRCASE
    burner = None
    if background:
        burner = popen([sys.executable, "-c", BURNER.format(core=core, share=background)])
        time.sleep(1.5)
    levels = [max(lv, background) for lv in levels]
    pattern = Pattern(__import__("numpy").array([levels], dtype=float), step)
    clock = ProcStat(core)
    trace: list[tuple[float, float]] = []
    try:
        others = wait_quiet(clock, background)
        with Painter(pattern, [core], step * len(levels)) as painter:
            end = painter.started_at + step * len(levels)
            while time.monotonic() < end:
                trace.append((time.monotonic(), clock.busy()))
                time.sleep(0.01)
    finally:
        clock.close()
        if burner is not None:
            stop(burner)

    label = "alone" if background == 0 else f"beside a process at {background} %"
    print(
        f"\nstep response, ours, {label}, others {others:.0f} % before:"
        f" {steps(trace, painter.started_at, levels, step)}"
    )


STAIRCASE = [20, 60, 30, 80, 40, 90, 50, 70, 20, 50, 80, 30, 60, 90, 40]


def steps(trace: list[tuple[float, float]], start: float, levels: list[int], step: float) -> str:
    """How the load shown (cumulative busy seconds in ``trace``) followed each change of ``levels``."""
    times = [t for t, _ in trace]

    def busy_at(t: float) -> float:  # linear interpolation of the cumulative busy time
        i = min(max(1, bisect.bisect_left(times, t)), len(trace) - 1)
        (ta, ba), (tb, bb) = trace[i - 1], trace[i]
        return ba + (bb - ba) * (t - ta) / (tb - ta)

    def mean(t0: float, t1: float) -> float:
        return 100.0 * (busy_at(t1) - busy_at(t0)) / (t1 - t0)

    fractions: dict[float, list[float]] = {0.1: [], 0.2: [], 0.5: []}
    first, later, lags = [], [], []
    for k in range(1, len(levels)):
        change = start + k * step
        old, new = levels[k - 1], levels[k]
        if new == old:
            continue
        for span, found in fractions.items():
            found.append((mean(change, change + span) - old) / (new - old))
        first.append(abs(mean(change, change + 1.0) - new))
        later.append(abs(mean(change + 1.0, change + 2.0) - new))
        missing = new * 1.0 - mean(change, change + 1.0) * 1.0  # percent-seconds short of an ideal step
        lags.append(1000.0 * missing / (new - old))
    shares = ", ".join(f"{1000 * s:.0f} ms: {100 * statistics.median(f):.0f} %" for s, f in fractions.items())
    return (
        f"{len(first)} changes, {step:g} s columns; share of the step shown over the first {shares};"
        f" equivalent lag {statistics.median(lags):.0f} ms (median); error of the first whole 1 s sample after a"
        f" change: mean {statistics.mean(first):.2f}, worst {max(first):.2f} points (the next second: mean"
        f" {statistics.mean(later):.2f}, worst {max(later):.2f})"
    )


# The lab: when the machine is shared, others' programs fill every core, so the monitor's view cannot be measured.
# There the workers' loop runs on a clock of just the two programs on the core (our worker and the background
# burner, each one's exact run time from /proc/PID/schedstat) in place of the core's line of /proc/stat. It checks
# the control (the background estimate, feed-forward, following a staircase), not the OS's tick sampling.
LAB_CLOCK = """
class LabClock:
    def __init__(self, pids):
        self.files = [open("/proc/%d/schedstat" % pid, "rb", buffering=0) for pid in pids]
    def busy(self):
        total = 0
        for f in self.files:
            f.seek(0)
            total += int(f.read().split()[0])
        return total / 1e9
    def close(self):
        for f in self.files:
            f.close()
"""

LAB_OURS = (
    LAB_CLOCK
    + """
import os, sys, time
from codecalamity.paint.control import SETTLE, Background, hold, settle
os.sched_setaffinity(0, {{{core}}})
levels = {levels}
background = Background(LabClock([{other}, os.getpid()]))
start = time.monotonic() + SETTLE
settle(background, start)
print(start, flush=True)
hold(lambda e: levels[min(int(e // {step}), len(levels) - 1)], {step} * len(levels), background=background,
     column_seconds={step})
"""
)


def lab(core: int, background: int, levels: list[int], step: float) -> tuple[float, list[tuple[float, float]]]:
    """Our loop on the lab clock beside a burner; (start time, trace of (time, busy seconds of both))."""
    namespace: dict[str, Any] = {}
    exec(LAB_CLOCK, namespace)
    burner = popen([sys.executable, "-c", BURNER.format(core=core, share=max(background, 0.001))])
    ours = None
    trace: list[tuple[float, float]] = []
    try:
        time.sleep(1.0)
        script = LAB_OURS.format(core=core, levels=levels, step=step, other=burner.pid)
        ours = popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert ours.stdout is not None
        start = float(ours.stdout.readline())
        clock = namespace["LabClock"]([burner.pid, ours.pid])
        try:
            while ours.poll() is None:
                trace.append((time.monotonic(), clock.busy()))
                time.sleep(0.01)
        finally:
            clock.close()
    finally:
        stop(burner)
        if ours is not None:
            ours.wait()
    return start, trace


def lab_report(core: int, backgrounds: list[int], seconds: float) -> None:
    print(f"\nlab (the loop on an exact clock of our worker + the burner, {seconds:g} s per level): mean load shown")
    print(f"{'target':>6}  " + "  ".join(f"{'bg ' + str(b) + ' %':>9}" for b in backgrounds))
    rows: dict[int, list[str]] = {t: [] for t in TARGETS}
    errors: dict[int, list[float]] = {b: [] for b in backgrounds}
    for b in backgrounds:
        levels = list(TARGETS)
        start, trace = lab(core, b, levels, seconds)
        times = [t for t, _ in trace]
        for k, target in enumerate(levels):
            i0 = bisect.bisect_left(times, start + k * seconds + 1.0)
            i1 = bisect.bisect_left(times, start + (k + 1) * seconds) - 1
            (t0, b0), (t1, b1) = trace[i0], trace[i1]
            shown = 100.0 * (b1 - b0) / (t1 - t0)
            rows[target].append(f"{shown:9.2f}")
            if target >= b:
                errors[b].append(abs(shown - target))
    for target in TARGETS:
        print(f"{target:6d}  " + "  ".join(rows[target]))
    print(f"{'MAE':>6}  " + "  ".join(f"{sum(e) / len(e):9.2f}" for e in errors.values()), flush=True)
    for b in backgrounds:
        levels = [max(lv, b) for lv in STAIRCASE]
        start, trace = lab(core, b, levels, 3.0)
        print(f"lab step response beside {b} %: {steps(trace, start, levels, 3.0)}", flush=True)


def main() -> None:
    global QUIET_WAIT
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backgrounds", default=",".join(map(str, BACKGROUNDS)))
    parser.add_argument("--skip-step", action="store_true")
    parser.add_argument("--step-only", action="store_true")
    parser.add_argument("--lab", action="store_true", help="only the lab check on an exact clock (a busy machine)")
    parser.add_argument("--quiet-wait", type=float, default=QUIET_WAIT, help="seconds a cell waits for quiet")
    args = parser.parse_args()
    QUIET_WAIT = args.quiet_wait
    if shutil.which("stress-ng") is None:
        sys.exit("stress-ng is missing: make bench installs it (apt-get install stress-ng)")
    usable = cores.usable()
    core = usable[-1]
    ALL_CORES.update(usable)
    if len(usable) > 1:  # measure from another core, so this process's own work is not in the figures
        os.sched_setaffinity(0, set(usable[:-1]))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.lab:
        lab_report(core, [int(b) for b in args.backgrounds.split(",")], args.seconds)
        return
    backgrounds = [int(b) for b in args.backgrounds.split(",")]
    for background in [] if args.step_only else backgrounds:
        table(core, args.seconds, args.repeat, background)
    if not args.skip_step:
        for background in backgrounds:
            step_response(core, background)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
