"""`calamity awake`: keep the computer awake while work runs, on Windows, macOS and Linux, and always let go.

Built on wakepy, which does Windows, macOS and the Linux desktops; codecalamity adds systemd-logind for headless
Linux, ``systemd-inhibit`` around a command as the last resort, and a lock object that says what worked.
"""

from __future__ import annotations

from codecalamity.awake.lock import Attempt, AwakeError, Lock, keep_awake

__all__ = ["Attempt", "AwakeError", "Lock", "keep_awake"]
