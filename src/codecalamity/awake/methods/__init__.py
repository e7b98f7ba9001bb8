"""The methods codecalamity adds to wakepy's; importing this module registers them with wakepy.

wakepy already brings SetThreadExecutionState (Windows), caffeinate (macOS) and the desktop D-Bus services
(org.freedesktop.PowerManagement, org.freedesktop.ScreenSaver, org.gnome.SessionManager). What is here works
where those do not: a headless Linux machine with systemd-logind.
"""

from __future__ import annotations

from codecalamity.awake.methods import login1

__all__ = ["login1"]
