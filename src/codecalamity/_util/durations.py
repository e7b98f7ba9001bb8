"""Human durations such as ``2h30m``, ``90s`` or ``1d`` as seconds."""

from __future__ import annotations

import re

from codecalamity._errors import UsageError

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


def parse_duration(text: str) -> float:
    """Return the number of seconds in ``text``: ``2h30m``, ``45s``, ``1.5h``, ``1d``, or a bare number of seconds.

    Raises
    ------
    UsageError
        When ``text`` is empty, negative or not a duration.
    """
    value = text.strip().lower().replace(" ", "")
    if not value:
        raise UsageError("empty duration")
    try:
        seconds = float(value)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(value) or pos == 0:
            raise UsageError(f"not a duration: {text!r} (try 90s, 30m, 2h30m, 1d)") from None
    if seconds < 0:
        raise UsageError(f"a duration cannot be negative: {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds compactly, e.g. ``2h30m`` or ``45s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    rest = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)
