"""The team's working hours: when it is open, when it opens next, deadlines in working time —
across DST changes and time zones — and the handoff settings that carry them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, parse_section
from bot.handoff_config import HandoffConfig
from bot.working_hours import HoursError, WeeklyHours, format_opening, parse_interval

WEEKDAYS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def is_open(hours: WeeklyHours, moment: datetime) -> bool:
    """Open means the next opening is now."""
    return hours.next_opening(moment) == moment


def test_intervals_parse_and_bad_ones_say_why() -> None:
    """An interval is HH:MM-HH:MM, may end at 24:00, and must end after it starts."""
    assert parse_interval("09:00-17:30") == (540, 1050)
    assert parse_interval(" 0:00 - 24:00 ") == (0, 1440)
    for bad, reason in (("9-17", "not an interval"), ("17:00-09:00", "ends before"),
                        ("09:00-24:30", "impossible"), ("25:00-26:00", "impossible")):
        with pytest.raises(HoursError, match=reason):
            parse_interval(bad)


def test_a_timetable_needs_real_days_a_zone_and_some_hours() -> None:
    """Unknown days, zones, overlapping intervals and an empty week are refused."""
    with pytest.raises(HoursError, match="not one of"):
        WeeklyHours.parse("UTC", {"monday": ["09:00-17:00"]})
    with pytest.raises(HoursError, match="IANA"):
        WeeklyHours.parse("Mars/Olympus", WEEKDAYS)
    with pytest.raises(HoursError, match="overlap"):
        WeeklyHours.parse("UTC", {"mon": ["09:00-13:00", "12:00-17:00"]})
    with pytest.raises(HoursError, match="at least one"):
        WeeklyHours.parse("UTC", {"sat": [], "sun": []})


def test_open_and_next_opening_in_the_teams_zone() -> None:
    """09:00–17:00 in New York: open at 15:00 UTC on a Wednesday (10:00 local), closed at
    23:00 UTC, and after Friday's close the next opening is Monday 09:00 local."""
    hours = WeeklyHours.parse("America/New_York", WEEKDAYS)
    wednesday = utc(2026, 11, 18, 15, 0)
    assert is_open(hours, wednesday)
    assert not is_open(hours, utc(2026, 11, 18, 23, 0))
    assert hours.next_opening(utc(2026, 11, 18, 23, 0)) == utc(2026, 11, 19, 14, 0)
    friday_evening = utc(2026, 11, 20, 22, 30)
    assert hours.next_opening(friday_evening) == utc(2026, 11, 23, 14, 0)


def test_wall_clock_hours_hold_across_both_dst_changes() -> None:
    """09:00 New York is 14:00 UTC in winter and 13:00 UTC in summer: the Monday after spring
    forward (March 8, 2026) and after fall back (November 1, 2026)."""
    hours = WeeklyHours.parse("America/New_York", WEEKDAYS)
    assert hours.next_opening(utc(2026, 3, 7, 12, 0)) == utc(2026, 3, 9, 13, 0)
    assert hours.next_opening(utc(2026, 10, 31, 12, 0)) == utc(2026, 11, 2, 14, 0)
    # The Sunday of the change itself is no working day; Monday 16:59 local is still open.
    assert is_open(hours, utc(2026, 3, 9, 20, 59)) and not is_open(hours, utc(2026, 3, 9, 21, 0))


def test_hours_inside_the_spring_forward_gap_hold_no_time() -> None:
    """02:30–03:00 does not exist in New York on March 8, 2026 (02:00 jumps to 03:00): the team
    is not open then, the next opening is 09:00 and half an hour of work ends at 09:30."""
    hours = WeeklyHours.parse("America/New_York", {"sun": ["02:30-03:00", "09:00-10:00"]})
    night = utc(2026, 3, 8, 6, 0)  # 01:00 local, before the jump
    assert all(opens < closes for opens, closes in
               itertools.islice(hours.intervals_from(night), 3))
    assert hours.next_opening(night) == utc(2026, 3, 8, 13, 0)
    assert hours.add_working_time(night, timedelta(minutes=30)) == utc(2026, 3, 8, 13, 30)


def test_hours_reaching_into_the_spring_forward_gap_stop_or_start_at_the_jump() -> None:
    """On March 8, 2026 New York jumps from 02:00 to 03:00 (07:00 UTC): "00:00-02:30" works until
    the jump, two hours, and "02:30-04:00" from it, one hour — no hour the team never set."""
    night = utc(2026, 3, 8, 4, 0)  # 23:00 on the 7th, local
    until = WeeklyHours.parse("America/New_York", {"sun": ["00:00-02:30"]})
    assert next(until.intervals_from(night)) == (utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 7, 0))
    since = WeeklyHours.parse("America/New_York", {"sun": ["02:30-04:00"]})
    assert next(since.intervals_from(night)) == (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0))
    # The hour of the 8th, then half an hour from 02:30 EDT (06:30 UTC) a week later.
    assert since.add_working_time(night, timedelta(minutes=90)) == utc(2026, 3, 15, 7, 0)


def test_working_time_skips_nights_weekends_and_counts_dst_days_right() -> None:
    """Two working hours from Friday 16:00 New York end Monday 10:00; across the spring-forward
    weekend that Monday 10:00 is 14:00 UTC instead of 15:00."""
    hours = WeeklyHours.parse("America/New_York", WEEKDAYS)
    two_hours = timedelta(hours=2)
    assert hours.add_working_time(utc(2026, 11, 20, 21, 0), two_hours) == utc(2026, 11, 23, 15, 0)
    assert hours.add_working_time(utc(2026, 3, 6, 21, 0), two_hours) == utc(2026, 3, 9, 14, 0)
    assert hours.add_working_time(utc(2026, 11, 18, 15, 0), two_hours) == utc(2026, 11, 18, 17, 0)


def test_split_days_and_a_zone_without_dst() -> None:
    """A lunch break is not working time; São Paulo (no DST) is UTC−3 all year."""
    hours = WeeklyHours.parse("America/Sao_Paulo", {"mon": ["09:00-12:00", "13:00-18:00"]})
    monday_11 = utc(2026, 7, 6, 14, 0)
    assert hours.add_working_time(monday_11, timedelta(hours=2)) == utc(2026, 7, 6, 17, 0)
    assert not is_open(hours, utc(2026, 7, 6, 15, 30))
    assert hours.next_opening(utc(2026, 7, 6, 15, 30)) == utc(2026, 7, 6, 16, 0)
    assert hours.next_opening(utc(2026, 7, 6, 22, 0)) == utc(2026, 7, 13, 12, 0)


def test_round_the_clock_days_join_up() -> None:
    """00:00–24:00 every day is always open, and working time is plain time."""
    hours = WeeklyHours.parse("Europe/Lisbon", {day: ["00:00-24:00"] for day in
                                                ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    start = utc(2026, 3, 28, 23, 30)  # Lisbon springs forward at 01:00 UTC on March 29
    assert is_open(hours, start)
    assert hours.add_working_time(start, timedelta(hours=3)) == start + timedelta(hours=3)


def test_the_opening_is_written_in_the_customers_language_and_zone() -> None:
    """The same instant reads as the customer's local time, with the zone's name."""
    monday = utc(2026, 11, 23, 14, 0)
    assert format_opening(monday, "en", "America/New_York") == \
        "Mon, Nov 23, 9:00\u202fAM Eastern Standard Time"
    assert format_opening(monday, "es", "Europe/Madrid").startswith("lun, 23 nov, 15:00")
    assert "11:00" in format_opening(monday, "pt_BR", "America/Sao_Paulo")


def test_handoff_settings_refuse_unusable_hours_and_limits() -> None:
    """The settings section checks the zone, the timetable and the limits, field by field."""
    assert is_open(HandoffConfig().weekly_hours(), utc(2026, 11, 18, 10, 0))
    with pytest.raises(ConfigError, match="IANA"):
        parse_section("handoff", {"timezone": "Nowhere/Town"})
    with pytest.raises(ConfigError, match="ends before"):
        parse_section("handoff", {"hours": {"mon": ["17:00-09:00"]}})
    with pytest.raises(ConfigError, match="return_unclaimed_after_minutes"):
        parse_section("handoff", {"return_unclaimed_after_minutes": 0})
    saved = parse_section("handoff", {"timezone": "Asia/Tokyo", "hours": {"sat": ["10:00-14:00"]}})
    assert saved.weekly_hours().next_opening(utc(2026, 11, 21, 0, 0)) == utc(2026, 11, 21, 1, 0)
