"""The agents' working hours: a weekly timetable in one time zone, and the instants it implies.

Pure functions of the timetable and a moment, so the handoff's promises ("back Monday 09:00")
and its deadlines ("two working hours after the request") are tested across DST changes.
Intervals are wall-clock times of the team's zone: 09:00–17:00 stays 09:00–17:00 local when the
clocks change.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton, format_time, get_timezone_name

from bot.addresses import candidate_timezones
from bot.local_dates import zone_named

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MINUTES_PER_DAY = 24 * 60


class HoursError(ValueError):
    """A timetable is malformed; the message says which day or interval and why."""


def parse_interval(text: str) -> tuple[int, int]:
    """``"09:00-17:30"`` → minutes after midnight ``(540, 1050)``; ``24:00`` ends a day."""
    match = _INTERVAL.match(text)
    if match is None:
        raise HoursError(f"{text!r} is not an interval like 09:00-17:00")
    start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
    if start_m > 59 or end_m > 59 or start_h > 23 or end_h > 24 or (end_h == 24 and end_m):
        raise HoursError(f"{text!r} has an impossible time")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start >= end:
        raise HoursError(f"{text!r} ends before it starts")
    return start, end


def known_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``America/New_York``), or HoursError."""
    zone = zone_named(name)
    if zone is None:
        raise HoursError(f"{name!r} is not an IANA time zone like America/New_York")
    return zone


@dataclass(frozen=True)
class WeeklyHours:
    """When the team works: intervals per weekday (0 = Monday) in the team's zone."""

    zone: ZoneInfo
    days: Mapping[int, tuple[tuple[int, int], ...]]

    @classmethod
    def parse(cls, zone: str, hours: Mapping[str, Sequence[str]]) -> WeeklyHours:
        """Build from the config's shape: ``{"mon": ["09:00-12:00", "13:00-17:00"], …}``."""
        days: dict[int, tuple[tuple[int, int], ...]] = {}
        for day, intervals in hours.items():
            if day not in WEEKDAYS:
                raise HoursError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            parsed = sorted(parse_interval(interval) for interval in intervals)
            for (_, end), (start, _) in itertools.pairwise(parsed):
                if start < end:
                    raise HoursError(f"{day}: intervals overlap")
            if parsed:
                days[WEEKDAYS.index(day)] = tuple(parsed)
        if not days:
            raise HoursError("the team needs at least one working interval a week")
        return cls(known_zone(zone), days)

    def intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals, in UTC, that end after ``moment``, in order (without end: a
        parsed timetable always has another week). One that lies in the hour the clocks skip
        in spring holds no time and is left out; one reaching into it stops or starts at the
        jump."""
        first = moment.astimezone(self.zone).date() - timedelta(days=1)
        for offset in itertools.count():
            day = first + timedelta(days=offset)
            for start, end in self.days.get(day.weekday(), ()):
                opens, closes = self._instant(day, start), self._instant(day, end)
                if opens < closes and closes > moment:
                    yield opens, closes

    def _instant(self, day: date, minutes: int) -> datetime:
        """A wall-clock time of the team's zone on ``day`` as a UTC instant (24:00 is the next
        day's midnight), so 09:00 stays 09:00 local across a DST change. A time the clocks skip
        is the jump itself (02:30 on a 02:00→03:00 night is 03:00): read with either offset it
        would add or remove an hour the team never set."""
        if minutes == _MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        instant = local.astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) == local.replace(tzinfo=None):
            return instant
        return _jump_over(local)

    def next_opening(self, moment: datetime) -> datetime:
        """``moment`` itself while open, else when the team next starts work."""
        opens, _ = next(self.intervals_from(moment))
        return max(opens, moment)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when ``duration`` of working time has passed since ``start``."""
        left = duration
        for opens, closes in self.intervals_from(start):
            begin = max(opens, start)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise AssertionError("unreachable: the intervals never end")


def _jump_over(local: datetime) -> datetime:
    """The instant the clocks jumped over ``local``, a wall time that does not exist: the first
    minute after its earlier reading (``fold=1`` in a gap) where the zone's offset changes."""
    zone, minute = local.tzinfo, timedelta(minutes=1)
    moment = local.replace(fold=1).astimezone(UTC)
    offset = moment.astimezone(zone).utcoffset()
    while (moment + minute).astimezone(zone).utcoffset() == offset:
        moment += minute
    return moment + minute


def format_opening(moment: datetime, locale: str, zone: str) -> str:
    """When the team is back, as the customer reads it: weekday, date, time and the zone's
    name ("Mon, Nov 23, 9:00 AM Eastern Standard Time")."""
    local = moment.astimezone(known_zone(zone))
    day = format_skeleton("MMMEd", local, locale=locale)
    clock = format_time(local, "short", locale=locale)
    pattern = Locale.parse(locale).datetime_formats["medium"]
    return f"{pattern.format(clock, day)} {get_timezone_name(local, locale=locale)}"


def reader_zone(moment: datetime, timezone: str | None, address: str, team_zone: str) -> str:
    """The zone to show ``moment`` in for a customer: their own zone when the business gave one,
    else their number's zone when every zone its numbering plan allows reads the same time then
    (a UK mobile: London, Jersey…), else the team's zone, which ``format_opening`` names."""
    if timezone:
        return timezone
    zones = [zone for zone in candidate_timezones(address) if zone_named(zone) is not None]
    if zones and len({moment.astimezone(ZoneInfo(zone)).utcoffset() for zone in zones}) == 1:
        return zones[0]
    return team_zone
