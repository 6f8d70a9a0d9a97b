"""Calendar arithmetic in a customer's own time zone: "in 3 days", "in 2 months", "on that day
at 10:00" mean wall-clock time where the customer lives, across DST changes."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.addresses import candidate_timezones


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``name``; None when there is no such zone."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_for(timezone: str | None, address: str | None) -> ZoneInfo:
    """The zone a contact lives in: the one the business told us, else the first zone their
    number's numbering plan names, else UTC."""
    zone = zone_named(timezone)
    if zone is not None:
        return zone
    if address:
        for candidate in candidate_timezones(address):
            zone = zone_named(candidate)
            if zone is not None:
                return zone
    return ZoneInfo("UTC")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (January 31 + 1 → February 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day it is at ``moment`` in ``zone``."""
    return moment.astimezone(zone).date()


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at wall-clock ``at`` in ``zone``, as a UTC instant."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def days_later(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The same wall-clock time ``days`` calendar days later in ``zone`` (not ``days`` × 24 h)."""
    local = moment.astimezone(zone)
    later = datetime.combine(local.date() + timedelta(days=days), local.timetz().replace(tzinfo=None),
                             tzinfo=zone)
    return later.astimezone(UTC)
