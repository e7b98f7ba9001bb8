"""``--until HH:MM[:SS]``: the next moment the local clock shows that time, correct across daylight-saving changes.

Every comparison is made in UTC: Python compares and subtracts two aware datetimes that share a tzinfo by their
wall clocks alone, which is wrong by an hour around a change. A wall time that happens twice (clocks going back)
counts both times; one that never happens (clocks jumping forward over it) is moved forward by the jump, as
java.time and dateutil do: ``02:30`` on a night that skips from 02:00 to 03:00 means 03:30.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from codecalamity._errors import UsageError

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_clock(text: str) -> time:
    """``HH:MM`` or ``HH:MM:SS`` (24-hour clock) as a :class:`datetime.time`.

    Raises
    ------
    UsageError
        When ``text`` is not such a time.
    """
    match = _CLOCK.fullmatch(text.strip())
    hour, minute, second = (int(g) for g in match.groups("0")) if match else (99, 0, 0)
    if hour > 23 or minute > 59 or second > 59:
        raise UsageError(f"not a time of day: {text!r} (try 07:00 or 23:30:15, 24-hour clock)")
    return time(hour, minute, second)


def next_time(when: str | time, *, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """The next moment, strictly after ``now``, at which the clock in ``tz`` shows ``when``.

    Parameters
    ----------
    when
        ``"HH:MM[:SS]"`` or a :class:`datetime.time`.
    now
        An aware datetime (default: the current time).
    tz
        The time zone whose clock is meant, e.g. a ``zoneinfo.ZoneInfo`` (default: the system's local time,
        with its daylight-saving rules).

    Returns
    -------
    datetime
        Aware, in ``tz`` (or the local time's offset at that moment).

    Raises
    ------
    UsageError
        When ``when`` is not a time of day.
    ValueError
        When ``now`` is naive.
    """
    wall = parse_clock(when) if isinstance(when, str) else when.replace(tzinfo=None, microsecond=0)
    now_utc = datetime.now(UTC) if now is None else _utc(now)
    today = now_utc.astimezone(tz).date() if tz is not None else now_utc.astimezone().date()
    # from yesterday: a wall time in a gap just before midnight is moved forward into today
    for day in (today - timedelta(days=1), today, today + timedelta(days=1), today + timedelta(days=2)):
        for moment in _moments(day, wall, tz):
            if moment > now_utc:
                return moment.astimezone(tz) if tz is not None else moment.astimezone()
    raise AssertionError("a time of day recurs within two days")  # pragma: no cover


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return moment.astimezone(UTC)


def _moments(day: date, wall: time, tz: tzinfo | None) -> list[datetime]:
    """The UTC moments at which the clock in ``tz`` shows ``wall`` on ``day``: one, two (clocks went back), or
    in a gap the wall time moved forward by the jump."""
    naive = datetime.combine(day, wall)
    # fold=0 and fold=1 read an ambiguous time as its first and second occurrence; a naive datetime's
    # astimezone() reads it with the system's local-time rules
    readings = [
        local.replace(tzinfo=tz).astimezone(UTC) if tz is not None else local.astimezone(UTC)
        for local in (naive.replace(fold=0), naive.replace(fold=1))
    ]
    real = [
        u for u in readings if (u.astimezone(tz) if tz is not None else u.astimezone()).replace(tzinfo=None) == naive
    ]
    # in a gap neither reading shows the wall time; the later one is the wall time moved forward by the jump
    return sorted(set(real)) or [max(readings)]
