"""``keep_awake``: hold the computer awake for the length of a block or a function call, and always let go.

Each ``keep_awake`` enters its own wakepy mode, so nesting and threads need no coordination: every holder has
its own inhibitor, released when its block ends. A SIGTERM handler (installed while any lock is held, in the main
thread, only where SIGTERM still has its default action) turns SIGTERM into ``SystemExit`` so blocks unwind;
SIGINT already raises ``KeyboardInterrupt``; an ``atexit`` hook releases what is still held at interpreter exit.
On SIGKILL the operating system releases every method used here (file descriptors and D-Bus connections close;
macOS's caffeinate exits when its stdin closes).
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from wakepy import Mode, keep

from codecalamity._errors import CalamityError
from codecalamity.awake.methods import login1

logger = logging.getLogger(__name__)

# Desktop methods first (users see them in their session), logind last: it also works with no desktop.
PRIORITY: list[Any] = ["*", login1.Login1KeepRunning.name]


class AwakeError(CalamityError):
    """No method could keep the computer awake, and ``strict`` was asked for."""


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One method tried: ``ok`` is True when it took effect, False when it failed, None when not reached."""

    method: str
    ok: bool | None
    stage: str | None
    reason: str


@dataclasses.dataclass(frozen=True)
class Lock:
    """What ``keep_awake`` achieved: the method that took effect (None if none did) and every attempt."""

    method: str | None
    attempts: tuple[Attempt, ...]
    display: bool
    reason: str

    @property
    def active(self) -> bool:
        """Whether some method is keeping the computer awake."""
        return self.method is not None

    def summary(self) -> str:
        """One line: the method, or why every method failed."""
        if self.method:
            return f"kept awake by {self.method}"
        failed = [f"{a.method}: {short_reason(a.reason or a.stage or '')}" for a in self.attempts if a.ok is False]
        return "no method could keep the computer awake (" + ("; ".join(failed) or "none is available here") + ")"


def short_reason(reason: str) -> str:
    """wakepy's failure text cut to the part a person needs."""
    if "DBUS_SESSION_BUS_ADDRESS is not set" in reason:
        return "no session D-Bus (DBUS_SESSION_BUS_ADDRESS is unset)"
    if "failed with message:" in reason:
        reason = reason.split("failed with message:", 1)[1].strip().rstrip('")')
    return reason if len(reason) <= 140 else reason[:137] + "..."


# lower-case, like wakepy's keep.running: it is used like a function
class keep_awake(contextlib.ContextDecorator):
    """Keep the computer (and with ``display``, the screen) awake inside a ``with`` block or a decorated call.

    Parameters
    ----------
    display
        Keep the screen on too (wakepy's keep.presenting), not just the system.
    reason
        Shown by the operating system where it lists what blocks sleep.
    strict
        Raise :class:`AwakeError` when nothing works, instead of logging one warning and going on.
    warn
        Log that warning (callers that report the failure themselves turn it off).

    Examples
    --------
    >>> with keep_awake(reason="backing up") as lock:  # doctest: +SKIP
    ...     print(lock.method)
    """

    def __init__(
        self, display: bool = False, reason: str = "calamity is working", strict: bool = False, warn: bool = True
    ) -> None:
        self.display = display
        self.reason = reason
        self.strict = strict
        self.warn = warn
        self._mode: Mode | None = None

    def _recreate_cm(self) -> keep_awake:
        # each decorated call gets its own lock, so calls from several threads do not share state
        return copy.copy(self)

    def __enter__(self) -> Lock:
        factory = keep.presenting if self.display else keep.running
        token = login1.REASON.set(self.reason)
        try:
            mode = factory(on_fail="pass", methods_priority=PRIORITY)
            mode.__enter__()
        finally:
            login1.REASON.reset(token)
        result = mode.result
        attempts = tuple(
            Attempt(r.method_name, r.success, str(r.failure_stage) if r.failure_stage else None, r.failure_reason)
            for r in result.list_methods()
        )
        lock = Lock(mode.active_method.name if mode.active_method else None, attempts, self.display, self.reason)
        if not lock.active:
            _exit_mode(mode)
            if self.strict:
                raise AwakeError(lock.summary())
            if self.warn:
                logger.warning("%s; going on", lock.summary())
            return lock
        self._mode = mode
        _HOLDERS.add(self)
        logger.info("%s", lock.summary())
        return lock

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        """Let go now (idempotent)."""
        mode, self._mode = self._mode, None
        if mode is not None:
            try:
                _exit_mode(mode)
            finally:
                _HOLDERS.discard(self)
                logger.info("released the keep-awake lock")


def _exit_mode(mode: Mode) -> None:
    """Leave a wakepy mode and close its D-Bus connections (wakepy 1.0 leaves them to the garbage collector)."""
    try:
        mode.__exit__(None, None, None)
    finally:
        adapter = getattr(mode, "_dbus_adapter", None)
        if adapter is not None:
            adapter.close_connections()


class _Holders:
    """The keep_awake objects now holding a lock, so that SIGTERM and interpreter exit can release them.

    This is process state by nature (signal handlers and atexit are per process); it is the one module-level
    object of the package besides wakepy's method registry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[keep_awake] = set()
        self._previous: Any = None
        self._installed = False
        atexit.register(self.release_all)

    def add(self, holder: keep_awake) -> None:
        with self._lock:
            self._held.add(holder)
            if not self._installed and threading.current_thread() is threading.main_thread():
                if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                    self._previous = signal.signal(signal.SIGTERM, _sigterm)
                    self._installed = True

    def discard(self, holder: keep_awake) -> None:
        with self._lock:
            self._held.discard(holder)
            if not self._held and self._installed and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self._previous)
                self._installed = False

    def release_all(self) -> None:
        with self._lock:
            held = list(self._held)
        for holder in held:
            holder.release()


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


_HOLDERS = _Holders()
