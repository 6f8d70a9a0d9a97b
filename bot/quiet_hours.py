"""Quiet hours: when a proactive message may reach someone, in their own local time.

Pure functions of (zones, instant, window). A window is a daily span of local wall-clock time
(08:00–20:00 by default); an instant is open when it falls inside the window in every zone the
recipient may be in. Wall-clock times are mapped to instants through the IANA database (pytz),
so the day a clock springs forward or falls back is handled like any other: a window that opens
inside a skipped hour opens when the clock jumps past it, one that opens in a repeated hour
opens at its first occurrence (and again at its second).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import ClassVar

import pytz
from pydantic import field_validator, model_validator

from bot.addresses import candidate_timezones
from bot.config import ConfigSection, config_section

LOOKAHEAD_DAYS = 8
"""How far ahead to look for an instant open in every zone before calling it never."""


@dataclass(frozen=True, slots=True)
class Window:
    """A daily span of local wall-clock time, ``opens`` included, ``closes`` excluded."""

    opens: time
    closes: time

    def contains(self, wall: time) -> bool:
        """Whether a local wall-clock time is inside the window."""
        return self.opens <= wall < self.closes

    def narrowed_to(self, other: Window) -> Window | None:
        """The part of this window also inside ``other`` (None when they do not overlap)."""
        opens, closes = max(self.opens, other.opens), min(self.closes, other.closes)
        return Window(opens, closes) if opens < closes else None

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}–{self.closes:%H:%M}"


DEFAULT_WINDOW = Window(time(8, 0), time(20, 0))


@config_section
class QuietHoursConfig(ConfigSection):
    """When proactive messages may go out, in the recipient's local time."""

    section: ClassVar[str] = "quiet_hours"
    title: ClassVar[str] = "Quiet hours"
    opens: time = DEFAULT_WINDOW.opens
    """Proactive messages start at this local time…"""
    closes: time = DEFAULT_WINDOW.closes
    """…and stop before this one. Replies to the customer's own message are exempt."""
    fallback_timezone: str = "UTC"
    """The zone assumed when neither the contact nor their number tells one (IANA name)."""

    @field_validator("fallback_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_known_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/New_York)")
        return value

    @model_validator(mode="after")
    def _opens_before_closes(self) -> QuietHoursConfig:
        if not self.opens < self.closes:
            raise ValueError("the window must open before it closes (e.g. 08:00 to 20:00)")
        return self

    @property
    def window(self) -> Window:
        """The configured window."""
        return Window(self.opens, self.closes)


def is_known_zone(name: str | None) -> bool:
    """Whether ``name`` is an IANA zone the service knows."""
    return bool(name) and name in pytz.all_timezones_set


@lru_cache(maxsize=1024)
def _zone(name: str) -> pytz.BaseTzInfo:
    return pytz.timezone(name)


def recipient_zones(timezone: str | None, address: str, fallback: str) -> tuple[str, ...]:
    """The zones to respect for a recipient: their own zone when known, else every zone their
    number may be in, else the fallback."""
    if is_known_zone(timezone):
        return (timezone,)  # type: ignore[return-value]
    return candidate_timezones(address) or (fallback,)


def local_wall(instant: datetime, zone: str) -> datetime:
    """The naive local date and time of ``instant`` in ``zone``."""
    return instant.astimezone(_zone(zone)).replace(tzinfo=None)


def is_open(zones: Iterable[str], instant: datetime, window: Window) -> bool:
    """Whether ``instant`` is inside the window in every zone."""
    return all(window.contains(local_wall(instant, zone).time()) for zone in zones)


def first_instant_at(day: date, wall: time, zone: str) -> datetime:
    """The first instant (UTC) at which the local clock in ``zone`` reads ``wall`` or later on
    ``day``: the wall time itself, its first occurrence when the clock falls back over it, or the
    moment the clock springs forward past it."""
    return instants_at(day, wall, zone)[0]


def instants_at(day: date, wall: time, zone: str) -> tuple[datetime, ...]:
    """Every instant (UTC), in order, at which the local clock in ``zone`` starts reading
    ``wall`` on ``day``: once, twice when the clock falls back over it, or — when it is skipped
    — once, at the moment the clock springs forward past it."""
    tz = _zone(zone)
    naive = datetime.combine(day, wall)
    try:
        return (tz.localize(naive, is_dst=None).astimezone(UTC),)
    except pytz.AmbiguousTimeError:
        # By occurrence, not by flag: where summer is the standard time (Europe/Dublin) the
        # DST flag marks the winter, later, reading.
        return tuple(sorted(tz.localize(naive, is_dst=flag).astimezone(UTC)
                            for flag in (True, False)))
    except pytz.NonExistentTimeError:
        pass
    # The wall time was skipped: the answer is the jump, between the two readings of it.
    low, high = sorted(int(tz.localize(naive, is_dst=flag).timestamp()) for flag in (True, False))
    while high - low > 1:
        middle = (low + high) // 2
        if local_wall(datetime.fromtimestamp(middle, UTC), zone) >= naive:
            high = middle
        else:
            low = middle
    return (datetime.fromtimestamp(high, UTC),)


def next_opening(zones: Sequence[str], now: datetime, window: Window) -> datetime | None:
    """The earliest instant at or after ``now`` that is open in every zone (``now`` itself when
    it is open); None when the zones' windows never overlap."""
    if is_open(zones, now, window):
        return now
    # An overlap of daily windows always begins when one of them opens — at either reading of
    # an opening time the clock falls back over, as the window opens again at the second.
    candidates = sorted({
        opening
        for zone in zones
        for offset in range(LOOKAHEAD_DAYS + 1)
        for opening in instants_at(local_wall(now, zone).date() + timedelta(days=offset),
                                   window.opens, zone)
        if opening > now
    })
    return next((instant for instant in candidates if is_open(zones, instant, window)), None)
