"""Calendar arithmetic in the customer's own zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.local_dates import add_months, at_local, days_later, local_day, zone_for


@pytest.mark.parametrize(("zone", "start", "later"), [
    # New York springs forward on March 8, 2026: 10:00 EST then 10:00 EDT.
    ("America/New_York", datetime(2026, 3, 6, 15, tzinfo=UTC), datetime(2026, 3, 9, 14, tzinfo=UTC)),
    # Madrid springs forward on March 29, 2026.
    ("Europe/Madrid", datetime(2026, 3, 27, 9, tzinfo=UTC), datetime(2026, 3, 30, 8, tzinfo=UTC)),
    # Sydney falls back on April 5, 2026 (southern hemisphere).
    ("Australia/Sydney", datetime(2026, 4, 3, 23, tzinfo=UTC), datetime(2026, 4, 7, 0, tzinfo=UTC)),
    # São Paulo keeps one offset all year.
    ("America/Sao_Paulo", datetime(2026, 3, 6, 13, tzinfo=UTC), datetime(2026, 3, 9, 13, tzinfo=UTC)),
])
def test_days_later_keeps_the_wall_clock_time(zone: str, start: datetime, later: datetime) -> None:
    """Three days later is the same local time of day, whatever the clocks did meanwhile."""
    assert days_later(start, 3, ZoneInfo(zone)) == later
    assert later.astimezone(ZoneInfo(zone)).time() == start.astimezone(ZoneInfo(zone)).time()


def test_months_and_local_days() -> None:
    """Adding months clamps to the month's end; local midnight and local days follow the zone."""
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    los_angeles = ZoneInfo("America/Los_Angeles")
    assert at_local(date(2026, 4, 1), time(0), los_angeles) == datetime(2026, 4, 1, 7, tzinfo=UTC)
    assert at_local(date(2026, 1, 1), time(0), los_angeles) == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert local_day(datetime(2026, 3, 2, 5, tzinfo=UTC), los_angeles) == date(2026, 3, 1)


def test_zone_comes_from_the_business_then_the_number() -> None:
    """The zone the business gave wins; else the number's; else UTC."""
    assert zone_for("Europe/Lisbon", "+14155550100") == ZoneInfo("Europe/Lisbon")
    assert zone_for(None, "+14155550100") == ZoneInfo("America/Los_Angeles")
    assert zone_for("Not/AZone", "+33612345678") == ZoneInfo("Europe/Paris")
    assert zone_for(None, None) == ZoneInfo("UTC")
