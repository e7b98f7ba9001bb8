"""keep_awake on Linux against real dbus-daemons and fake services: which method wins, fallbacks, release."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest

from codecalamity.awake import AwakeError, keep_awake

from .conftest import Bus

Buses = Callable[[], tuple[Bus, Bus]]


def test_desktop_session_method_wins_and_is_released(buses: Buses) -> None:
    session, system = buses()
    session.serve("powermanagement", "gnome")
    system.serve("login1")
    with keep_awake(reason="testing") as lock:
        assert lock.active
        assert lock.method in ("org.freedesktop.PowerManagement", "org.gnome.SessionManager")
        calls = session.events("call")
        assert len(calls) == 1 and calls[0]["method"] == "Inhibit"
        assert system.events("call") == []  # logind only as the last resort
    released = session.wait_for("call", 2)[1]
    assert released["method"] in ("UnInhibit", "Uninhibit")
    assert released["args"] == [1]


def test_headless_machine_uses_login1_and_holds_a_real_fd(buses: Buses) -> None:
    session, system = buses()  # a session bus with no desktop services on it
    system.serve("login1")
    with keep_awake(reason="nightly backup") as lock:
        assert lock.method == "org.freedesktop.login1"
        (call,) = system.events("call")
        assert call["args"] == ["sleep:idle", "calamity", "nightly backup", "block"]
        failed = {a.method for a in lock.attempts if a.ok is False}
        assert {"org.freedesktop.PowerManagement", "org.gnome.SessionManager"} <= failed
        assert system.events("fd_closed") == []
    system.wait_for("fd_closed")


def test_login1_access_denied_is_a_clean_failure_with_its_reason(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1:refuse")
    with keep_awake() as lock:
        assert not lock.active
    (attempt,) = [a for a in lock.attempts if a.method == "org.freedesktop.login1"]
    assert attempt.ok is False
    assert "AccessDenied" in attempt.reason and "polkit" in attempt.reason
    assert "login1" in lock.summary()


def test_a_refusing_desktop_service_falls_through_to_the_next(buses: Buses) -> None:
    session, system = buses()
    session.serve("powermanagement:refuse", "gnome:refuse")
    system.serve("login1")
    with keep_awake() as lock:
        assert lock.method == "org.freedesktop.login1"
    assert len(session.events("refused")) == 2


def test_display_uses_the_screensaver(buses: Buses) -> None:
    session, system = buses()
    session.serve("screensaver")
    with keep_awake(display=True) as lock:
        assert lock.method == "org.freedesktop.ScreenSaver"
        assert lock.display


def test_nothing_works_goes_on_unless_strict(no_buses: None, caplog: pytest.LogCaptureFixture) -> None:
    with keep_awake() as lock:
        assert not lock.active
    assert "no method could keep the computer awake" in caplog.text
    with pytest.raises(AwakeError, match="no method could keep the computer awake"):
        with keep_awake(strict=True):
            pass


def test_released_when_the_block_raises(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    with pytest.raises(ZeroDivisionError):
        with keep_awake():
            1 / 0  # noqa: B018
    system.wait_for("fd_closed")


def test_nesting_and_threads_each_hold_and_release(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")

    @keep_awake(reason="worker")
    def work(barrier: threading.Barrier) -> None:
        barrier.wait(timeout=10)

    with keep_awake(reason="outer"):
        with keep_awake(reason="inner"):
            barrier = threading.Barrier(4)
            threads = [threading.Thread(target=work, args=(barrier,)) for _ in range(3)]
            for t in threads:
                t.start()
            barrier.wait(timeout=10)
            for t in threads:
                t.join(timeout=10)
            assert len(system.events("call")) == 5
        system.wait_for("fd_closed", 4)
        assert len(system.events("fd_closed")) == 4  # the outer lock still holds
    system.wait_for("fd_closed", 5)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from codecalamity.awake import keep_awake
    with keep_awake(reason="holder") as lock:
        print(lock.method, flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_released_when_the_holder_is_signalled(buses: Buses, sig: int) -> None:
    session, system = buses()
    session.serve("gnome")
    system.serve("login1:refuse=0")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, env=dict(os.environ))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"org.gnome.SessionManager"
    proc.send_signal(sig)
    proc.wait(timeout=10)
    proc.stdout.close()
    if sig == signal.SIGKILL:
        # no chance to call Uninhibit: the bus tells the service that the holder is gone
        gone = session.wait_for("client_gone")
        assert gone[0]["services"] == ["gnome"]
    else:
        assert proc.returncode in (128 + sig, -sig, 1)
        assert session.wait_for("call", 2)[1]["method"] == "Uninhibit"


def test_login1_fd_is_closed_by_the_kernel_on_sigkill(buses: Buses) -> None:
    session, system = buses()
    system.serve("login1")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"org.freedesktop.login1"
    assert system.events("fd_closed") == []
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
    system.wait_for("fd_closed")


def test_released_at_interpreter_exit_when_never_exited(buses: Buses) -> None:
    session, system = buses()
    session.serve("gnome")
    script = "from codecalamity.awake import keep_awake\nprint(keep_awake().__enter__().method, flush=True)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "org.gnome.SessionManager"
    # the atexit hook said Uninhibit itself; it did not just drop the connection
    assert [c["method"] for c in session.wait_for("call", 2)] == ["Inhibit", "Uninhibit"]
