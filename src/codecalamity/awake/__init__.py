"""`calamity awake`: keep the computer awake while work runs, on Windows, macOS and Linux, and always let go.

Built on wakepy, which does Windows, macOS and the Linux desktops; codecalamity adds systemd-logind for headless
Linux, ``systemd-inhibit`` around a command as the last resort, and a lock object that says what worked.
The names below are imported on first use, so that ``calamity --help`` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codecalamity._util.lazy import lazy_getattr

if TYPE_CHECKING:
    from codecalamity.awake.clock import next_time
    from codecalamity.awake.lock import Attempt, AwakeError, Lock, keep_awake
    from codecalamity.awake.stay import stay_awake
    from codecalamity.awake.watch import PidWatch

__all__ = ["Attempt", "AwakeError", "Lock", "PidWatch", "keep_awake", "next_time", "stay_awake"]
__getattr__ = lazy_getattr(
    __name__,
    {
        **{name: "lock" for name in ("Attempt", "AwakeError", "Lock", "keep_awake")},
        "next_time": "clock",
        "stay_awake": "stay",
        "PidWatch": "watch",
    },
)
