"""Quiet hours as pure functions: local windows across timezones, both DST changes, several zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.config import ConfigError, parse_section
from bot.quiet_hours import (
    DEFAULT_WINDOW,
    Window,
    first_instant_at,
    is_open,
    next_opening,
    recipient_zones,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "evening", "opening"), [
    # New York springs forward on 2026-03-08: 08:00 is EDT (UTC-4), not EST.
    ("America/New_York", utc(2026, 3, 8, 3, 0), utc(2026, 3, 8, 12, 0)),
    # …and falls back on 2026-11-01: 08:00 is EST (UTC-5).
    ("America/New_York", utc(2026, 11, 1, 2, 0), utc(2026, 11, 1, 13, 0)),
    # Lisbon: summer time from 2026-03-29 (08:00 WEST = 07:00 UTC), winter from 2026-10-25.
    ("Europe/Lisbon", utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 7, 0)),
    ("Europe/Lisbon", utc(2026, 10, 24, 20, 30), utc(2026, 10, 25, 8, 0)),
    # Sydney leaves summer time on 2026-04-05 (08:00 AEST = 22:00 UTC the day before)…
    ("Australia/Sydney", utc(2026, 4, 4, 10, 0), utc(2026, 4, 4, 22, 0)),
    # …and enters it on 2026-10-04 (08:00 AEDT = 21:00 UTC the day before).
    ("Australia/Sydney", utc(2026, 10, 3, 11, 0), utc(2026, 10, 3, 21, 0)),
    # São Paulo's clocks went forward at midnight on 2018-11-04 and back on 2019-02-17…
    ("America/Sao_Paulo", utc(2018, 11, 4, 0, 0), utc(2018, 11, 4, 10, 0)),
    ("America/Sao_Paulo", utc(2019, 2, 16, 23, 0), utc(2019, 2, 17, 11, 0)),
    # …and no longer change: 08:00 is UTC-3 all year.
    ("America/Sao_Paulo", utc(2026, 11, 1, 0, 0), utc(2026, 11, 1, 11, 0)),
])
def test_next_opening_is_eight_local_across_dst(zone: str, evening: datetime,
                                                opening: datetime) -> None:
    """An evening instant defers to 08:00 local the next morning, with the offset in force then."""
    assert not is_open([zone], evening, DEFAULT_WINDOW)
    assert next_opening([zone], evening, DEFAULT_WINDOW) == opening
    assert is_open([zone], opening, DEFAULT_WINDOW)


@pytest.mark.parametrize(("zone", "last_open", "first_closed"), [
    # 19:59:59 is open and 20:00 closed, on the first evening of summer and of winter time.
    ("America/New_York", utc(2026, 3, 8, 23, 59, 59), utc(2026, 3, 9, 0, 0)),
    ("America/New_York", utc(2026, 11, 2, 0, 59, 59), utc(2026, 11, 2, 1, 0)),
    ("Australia/Sydney", utc(2026, 4, 5, 9, 59, 59), utc(2026, 4, 5, 10, 0)),
])
def test_window_closes_at_twenty_local_on_dst_days(zone: str, last_open: datetime,
                                                   first_closed: datetime) -> None:
    """The window's end follows the local clock on the day the offset changes."""
    assert is_open([zone], last_open, DEFAULT_WINDOW)
    assert not is_open([zone], first_closed, DEFAULT_WINDOW)


def test_open_instant_is_its_own_opening() -> None:
    """Inside the window nothing waits."""
    noon = utc(2026, 7, 1, 16, 0)
    assert next_opening(["America/New_York"], noon, DEFAULT_WINDOW) == noon


def test_opening_inside_a_skipped_hour_is_the_jump() -> None:
    """A window opening at 02:30 on the night New York skips 02:00–03:00 opens at 03:00 EDT."""
    assert first_instant_at(date(2026, 3, 8), time(2, 30), "America/New_York") == utc(
        2026, 3, 8, 7, 0)
    assert first_instant_at(date(2026, 10, 4), time(2, 15), "Australia/Sydney") == utc(
        2026, 10, 3, 16, 0)


def test_opening_inside_a_repeated_hour_is_its_first_occurrence() -> None:
    """01:30 happens twice when New York falls back; the window opens at the first (EDT)."""
    assert first_instant_at(date(2026, 11, 1), time(1, 30), "America/New_York") == utc(
        2026, 11, 1, 5, 30)


def test_several_zones_wait_for_all_to_be_open() -> None:
    """A Portuguese mobile may be in Lisbon or the Azores: open only when both are."""
    zones = recipient_zones(None, "+351912345678", "UTC")
    assert set(zones) == {"Europe/Lisbon", "Atlantic/Azores"}
    summer_morning = utc(2026, 7, 1, 7, 30)  # 08:30 in Lisbon, 07:30 in the Azores
    assert is_open(["Europe/Lisbon"], summer_morning, DEFAULT_WINDOW)
    assert not is_open(zones, summer_morning, DEFAULT_WINDOW)
    assert next_opening(zones, summer_morning, DEFAULT_WINDOW) == utc(2026, 7, 1, 8, 0)
    summer_evening = utc(2026, 7, 1, 19, 30)  # 20:30 in Lisbon: closed there
    assert next_opening(zones, summer_evening, DEFAULT_WINDOW) == utc(2026, 7, 2, 8, 0)


def test_zones_that_never_overlap_have_no_opening() -> None:
    """Tokyo and New York share no hour of a 09:00–17:00 window."""
    window = Window(time(9, 0), time(17, 0))
    assert next_opening(["Asia/Tokyo", "America/New_York"], utc(2026, 7, 1, 12, 0), window) is None


def test_zones_come_from_the_contact_then_the_number_then_the_fallback() -> None:
    """The contact's own zone wins; an unknown one is ignored; a number without zones uses the
    fallback."""
    assert recipient_zones("Europe/Madrid", "+14155550100", "UTC") == ("Europe/Madrid",)
    assert recipient_zones("Mars/Olympus", "+14155550100", "UTC") == ("America/Los_Angeles",)
    assert recipient_zones(None, "+447700900123", "Europe/London") == ("Europe/London",)


def test_quiet_hours_settings_are_validated() -> None:
    """The window must open before it closes and the fallback must be a real zone."""
    section = parse_section("quiet_hours", {"opens": "09:00", "closes": "19:30",
                                            "fallback_timezone": "America/Chicago"})
    assert section.window == Window(time(9, 0), time(19, 30))
    with pytest.raises(ConfigError, match="open before it closes"):
        parse_section("quiet_hours", {"opens": "20:00", "closes": "08:00"})
    with pytest.raises(ConfigError, match="IANA"):
        parse_section("quiet_hours", {"fallback_timezone": "Central"})


def test_a_window_opening_in_a_repeated_hour_opens_at_both_readings() -> None:
    """The first reading of a repeated 01:30 is the summer one even where winter is the DST
    (Dublin), and a window opening then opens again at the second reading."""
    assert first_instant_at(date(2026, 10, 25), time(1, 30), "Europe/Dublin") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC)
    after_fall_back = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the second 01:10
    assert next_opening(["America/New_York"], after_fall_back,
                        Window(time(1, 30), time(5, 0))) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
