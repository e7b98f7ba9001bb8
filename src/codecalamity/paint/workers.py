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

from codecalamity.paint.control import hold
from codecalamity.paint.pattern import Pattern

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


def worker_main(
    core: int,
    pin: bool,
    row: list[float],
    column_seconds: float,
    duration: float,
    start_at: float,
    parent_pid: int,
    lifeline: Connection,
    results: Any,
) -> None:
    """Body of one worker process: pin, wait for the common start, hold the row's targets, report."""
    _die_with_parent(parent_pid, lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    pinned = _pin(core) if pin else False
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    columns = len(row)
    achieved = hold(lambda elapsed: row[int(elapsed // column_seconds) % columns], duration)
    results.put((core, pinned, achieved))


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
    """

    def __init__(self, pattern: Pattern, cores: list[int], duration: float, pin: bool = True) -> None:
        if pattern.rows != len(cores):
            raise ValueError(f"pattern has {pattern.rows} rows for {len(cores)} cores")
        self.pattern = pattern
        self.cores = cores
        self.duration = duration
        self.pin = pin
        self.started_at = 0.0
        self._ctx = mp.get_context("spawn")
        self._procs: list[mp.process.BaseProcess] = []
        self._lifelines: list[Connection] = []
        self._results: Any = self._ctx.Queue()

    def __enter__(self) -> Painter:
        self.started_at = time.monotonic() + 0.5 + 0.1 * len(self.cores)  # time for every worker to start
        for row, core in enumerate(self.cores):
            child_end, parent_end = self._ctx.Pipe(duplex=False)
            proc = self._ctx.Process(
                target=worker_main,
                args=(
                    core,
                    self.pin,
                    [float(v) for v in self.pattern.targets[row]],
                    self.pattern.column_seconds,
                    self.duration,
                    self.started_at,
                    os.getpid(),
                    child_end,
                    self._results,
                ),
                name=f"calamity-paint-{core}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            self._procs.append(proc)
            self._lifelines.append(parent_end)
        return self

    def wait(self, stop: threading.Event | None = None) -> dict[int, float]:
        """Wait for the workers to finish (or ``stop`` to be set); return the achieved load per core."""
        deadline = self.started_at + self.duration + 10
        while any(p.is_alive() for p in self._procs):
            if stop is not None and stop.is_set():
                break
            if time.monotonic() > deadline:
                logger.warning("workers overran their time; stopping them")
                break
            time.sleep(0.05)
        achieved: dict[int, float] = {}
        with contextlib.suppress(Exception):
            while True:
                core, _pinned, load = self._results.get(timeout=0.2)
                achieved[core] = load
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
