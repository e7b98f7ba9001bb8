"""systemd-logind's ``Manager.Inhibit`` on the system bus: what ``systemd-inhibit`` does, for headless Linux.

logind hands back a file descriptor; the inhibitor lock lasts exactly as long as that descriptor is open. It is
closed on release, and by the kernel when the process dies, even by SIGKILL.
"""

from __future__ import annotations

import contextvars
import logging
import os
from typing import Any

from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection
from jeepney.wrappers import DBusErrorResponse, unwrap_msg
from wakepy.core import Method, ModeName, PlatformType

logger = logging.getLogger(__name__)

LOGIN1 = DBusAddress(
    "/org/freedesktop/login1", bus_name="org.freedesktop.login1", interface="org.freedesktop.login1.Manager"
)
SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
# Reason shown by `systemd-inhibit --list`; set by keep_awake() for the duration of the activation.
REASON: contextvars.ContextVar[str] = contextvars.ContextVar("calamity_awake_reason", default="calamity is working")


class _Login1Inhibit(Method):
    """Base of the two login1 methods (one per wakepy mode); unnamed, so wakepy does not register it."""

    supported_platforms = (PlatformType.LINUX,)
    what = "sleep:idle"
    """What to inhibit: system sleep, and the idle action (which may itself be a suspend).
    https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.login1.html"""
    timeout = 3.0
    """Seconds to wait for logind (or polkit behind it) to answer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fd: int | None = None

    def caniuse(self) -> bool | None | str:
        if "DBUS_SYSTEM_BUS_ADDRESS" not in os.environ and not os.path.exists(SYSTEM_BUS_SOCKET):
            return f"no system D-Bus ({SYSTEM_BUS_SOCKET} is missing and DBUS_SYSTEM_BUS_ADDRESS is unset)"
        return None

    def enter_mode(self) -> None:
        call = new_method_call(LOGIN1, "Inhibit", "ssss", (self.what, "calamity", REASON.get(), "block"))
        with open_dbus_connection(bus="SYSTEM", enable_fds=True) as conn:
            reply = conn.send_and_get_reply(call, timeout=self.timeout)
        try:
            (fd,) = unwrap_msg(reply)
        except DBusErrorResponse as err:
            detail = f": {err.data[0]}" if err.data else ""
            raise RuntimeError(f"logind refused ({err.name}{detail})") from None
        self._fd = fd.to_raw_fd()
        logger.debug("logind inhibitor lock held on fd %d", self._fd)

    def exit_mode(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Login1KeepRunning(_Login1Inhibit):
    """login1 inhibitor for wakepy's keep.running mode."""

    name = "org.freedesktop.login1"
    mode_name = ModeName.KEEP_RUNNING


class Login1KeepPresenting(_Login1Inhibit):
    """login1 inhibitor for keep.presenting (logind has no display lock; the desktop methods come first)."""

    name = "org.freedesktop.login1"
    mode_name = ModeName.KEEP_PRESENTING
