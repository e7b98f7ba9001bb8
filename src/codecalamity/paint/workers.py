"""One pinned worker process per chosen core, started together, stopped together, never outliving the parent.

Workers die with the parent even on SIGKILL: on Linux through ``PR_SET_PDEATHSIG``; everywhere through a pipe
whose other end only the parent holds (the worker exits when it reads end-of-file).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from codecalamity._errors import CalamityError
from codecalamity.paint.control import SETTLE, Background, Held, Reading, hold, settle
from codecalamity.paint.pattern import Pattern
from codecalamity.paint.sensor import open_clock

logger = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, lifeline: Connection) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os._exit(1)  # the parent has gone (or told us to go): no cleanup to wait for

    threading.Thread(target=watch, daemon=True).start()


def _pin(core: int) -> bool:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
        return True
    try:
        import psutil

        psutil.Process().cpu_affinity([core])
        return True
    except (ImportError, AttributeError, OSError):
        return False


STATUS_FIELDS = 3
# Per worker, in the shared status array: its target, the core's total and the background, in percent.
START_TIMEOUT = 60.0
# Seconds the workers may take to start (spawn imports Python afresh; a loaded machine is slow).


def worker_main(
    slot: int,
    core: int,
    pin: bool,
    row: list[float],
    column_seconds: float,
    duration: float,
    own_share: bool,
    parent_pid: int,
    lifeline: Connection,
    start_at: Any,
    status: Any,
    results: Any,
) -> None:
    """Body of one worker process: pin, wait for the common start, measure the idle core, hold the row, report.

    ``status[slot * STATUS_FIELDS]`` is set to 1 once pinned; the parent then sets ``start_at`` (monotonic) for
    everyone. Until then the worker measures its idle core (``control.settle``); after, it writes each period's
    ``Reading`` to its slot.
    """
    _die_with_parent(parent_pid, lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    pinned = _pin(core) if pin else False
    try:
        background: Background | None = Background(open_clock(core))
    except OSError as err:
        logger.warning("core %d: no busy-time counter (%s); holding our own share only", core, err)
        background = None
    base = slot * STATUS_FIELDS
    status[base] = 1.0
    while start_at.value == 0.0:  # the others are still starting (their imports load the cores)
        time.sleep(0.01)
    if background is not None:
        settle(background, start_at.value)
    delay = start_at.value - time.monotonic()
    if delay > 0:
        time.sleep(delay)

    def report(reading: Reading) -> None:
        status[base], status[base + 1], status[base + 2] = reading.target, reading.total, reading.background

    columns = len(row)
    held = hold(
        lambda elapsed: row[int(elapsed // column_seconds) % columns],
        duration,
        background=background,
        own_share=own_share or not pinned,  # unpinned, our time lands on any core: that core's total is not ours
        on_period=report,
        column_seconds=column_seconds,
    )
    results.put((core, pinned, held))


class Painter:
    """Runs a pattern on the chosen cores: a context manager that stops every worker on the way out.

    Parameters
    ----------
    pattern
        Targets, one row per core in ``cores``.
    cores
        Logical core ids, in the pattern's row order.
    duration
        Seconds to run.
    pin
        Pin each worker to its core (False on macOS, which cannot).
    own_share
        Hold each worker's own CPU share at the target, on top of what else runs (default: the core's total).

    Raises
    ------
    CalamityError
        On entry, when a worker dies or does not start in time.
    """

    def __init__(
        self, pattern: Pattern, cores: list[int], duration: float, pin: bool = True, own_share: bool = False
    ) -> None:
        if pattern.rows != len(cores):
            raise ValueError(f"pattern has {pattern.rows} rows for {len(cores)} cores")
        self.pattern = pattern
        self.cores = cores
        self.duration = duration
        self.pin = pin
        self.own_share = own_share
        self.started_at = 0.0
        self._ctx = mp.get_context("spawn")
        self._procs: list[mp.process.BaseProcess] = []
        self._lifelines: list[Connection] = []
        self._results: Any = self._ctx.Queue()
        self._start_at: Any = self._ctx.Value("d", 0.0, lock=False)
        self.status: Any = self._ctx.Array("d", STATUS_FIELDS * len(cores), lock=False)

    def __enter__(self) -> Painter:
        for slot, core in enumerate(self.cores):
            child_end, parent_end = self._ctx.Pipe(duplex=False)
            proc = self._ctx.Process(
                target=worker_main,
                args=(
                    slot,
                    core,
                    self.pin,
                    [float(v) for v in self.pattern.targets[slot]],
                    self.pattern.column_seconds,
                    self.duration,
                    self.own_share,
                    os.getpid(),
                    child_end,
                    self._start_at,
                    self.status,
                    self._results,
                ),
                name=f"calamity-paint-{core}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            self._procs.append(proc)
            self._lifelines.append(parent_end)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        # every worker measures its idle core for SETTLE seconds, then all start together
        self.started_at = time.monotonic() + SETTLE
        self._start_at.value = self.started_at
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not all(self.status[slot * STATUS_FIELDS] == 1.0 for slot in range(len(self.cores))):
            dead = [p.name for p in self._procs if not p.is_alive()]
            if dead:
                raise CalamityError(f"worker {dead[0]} stopped while starting (run with -v for its log)")
            if time.monotonic() > deadline:
                raise CalamityError(f"the workers did not start within {START_TIMEOUT:g} s")
            time.sleep(0.01)

    def readings(self) -> list[tuple[float, float, float]]:
        """Each worker's latest (target, total, background) in percent, in core order (zeros before the start)."""
        if time.monotonic() < self.started_at:
            return [(0.0, 0.0, 0.0) for _ in self.cores]
        f = STATUS_FIELDS
        return [(self.status[i * f], self.status[i * f + 1], self.status[i * f + 2]) for i in range(len(self.cores))]

    def wait(self, stop: threading.Event | None = None) -> dict[int, Held]:
        """Wait for the workers to finish (or ``stop`` to be set); return what each core achieved."""
        deadline = self.started_at + self.duration + 10
        while any(p.is_alive() for p in self._procs):
            if stop is not None and stop.is_set():
                break
            if time.monotonic() > deadline:
                logger.warning("workers overran their time; stopping them")
                break
            time.sleep(0.05)
        achieved: dict[int, Held] = {}
        with contextlib.suppress(Exception):
            while True:
                core, _pinned, held = self._results.get(timeout=0.2)
                achieved[core] = held
        return achieved

    def stop(self) -> None:
        """Stop every worker at once."""
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join(timeout=5)
        for lifeline in self._lifelines:
            lifeline.close()
        self._results.close()
        self._results.join_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (main thread only), handlers restored after."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum: int, frame: object) -> None:
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
