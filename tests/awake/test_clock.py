"""``--until``: the next moment the local clock shows a time, computed (not waited for), across DST changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest

from codecalamity._errors import UsageError
from codecalamity.awake import next_time
from codecalamity.awake.clock import parse_clock

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")  # 2026: clocks go 02:00 -> 03:00 on 8 March, 02:00 -> 01:00 on 1 November


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7:05", clock_time(7, 5)),
        ("07:05", clock_time(7, 5)),
        ("23:59:59", clock_time(23, 59, 59)),
        (" 0:00 ", clock_time(0)),
    ],
)
def test_parse_clock(text: str, expected: clock_time) -> None:
    assert parse_clock(text) == expected


@pytest.mark.parametrize(
    "text", ["24:00", "7", "07:60", "7:5", "07:00:60", "noon", "", "-1:00", "07:00pm", "7:00:00:00"]
)
def test_parse_clock_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="not a time of day"):
        parse_clock(text)


def test_later_today_is_today() -> None:
    now = datetime(2026, 11, 28, 6, 0, tzinfo=PARIS)
    assert next_time("07:00", now=now, tz=PARIS) == datetime(2026, 11, 28, 7, 0, tzinfo=PARIS)
    assert next_time("06:00:01", now=now, tz=PARIS) == datetime(2026, 11, 28, 6, 0, 1, tzinfo=PARIS)


def test_earlier_today_rolls_over_to_tomorrow() -> None:
    now = datetime(2026, 11, 28, 23, 0, tzinfo=PARIS)
    assert next_time("07:00", now=now, tz=PARIS) == datetime(2026, 11, 29, 7, 0, tzinfo=PARIS)
    # the very same second is not "next": it is tomorrow's
    assert next_time("23:00", now=now, tz=PARIS) == datetime(2026, 11, 29, 23, 0, tzinfo=PARIS)
    # end of the month and of the year
    new_year = next_time("00:30", now=datetime(2026, 12, 31, 23, 59, tzinfo=PARIS), tz=PARIS)
    assert new_year == datetime(2027, 1, 1, 0, 30, tzinfo=PARIS)


def test_now_in_another_zone_is_the_same_moment() -> None:
    now = datetime(2026, 11, 28, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert next_time("23:00", now=now, tz=PARIS) == datetime(2026, 11, 29, 23, 0, tzinfo=PARIS)


def test_across_the_autumn_change_tomorrow_is_25_hours_away() -> None:
    now = datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK)  # EDT, UTC-4
    moment = next_time("12:00", now=now, tz=NEW_YORK)
    assert moment.utcoffset() == NEW_YORK.utcoffset(datetime(2026, 11, 2))  # EST, UTC-5
    assert moment.astimezone(UTC) == datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
    assert (moment.astimezone(UTC) - now.astimezone(UTC)).total_seconds() == 25 * 3600


def test_a_time_that_happens_twice_counts_both_times() -> None:
    first = next_time("01:30", now=datetime(2026, 11, 1, 5, 0, tzinfo=UTC), tz=NEW_YORK)  # now 01:00 EDT
    assert first.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = next_time("01:30", now=datetime(2026, 11, 1, 5, 45, tzinfo=UTC), tz=NEW_YORK)  # now 01:45 EDT
    assert second.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, an hour later


def test_a_time_that_never_happens_moves_forward_by_the_jump() -> None:
    moment = next_time("02:30", now=datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK), tz=NEW_YORK)
    assert moment.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert (moment.hour, moment.minute) == (3, 30)


@pytest.fixture
def local_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The system's local time (no tz given) set to New York, restored afterwards."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_system_local_time_follows_its_dst_rules(local_new_york: None) -> None:
    autumn = next_time("12:00", now=datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 12:00 EDT
    assert autumn.astimezone(UTC) == datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
    assert autumn.utcoffset() == timedelta(hours=-5)
    twice = next_time("01:30", now=datetime(2026, 11, 1, 5, 45, tzinfo=UTC))
    assert twice.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    gap = next_time("02:30", now=datetime(2026, 3, 8, 4, 0, tzinfo=UTC))
    assert gap.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_time("07:00", now=datetime(2026, 11, 28, 6, 0))
