"""What operators set about handing conversations to people: the team's working hours, how long
a handoff may wait before the bot takes the conversation back, when the bot gives up on
understanding, and whether it asks for a rating afterwards."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field, model_validator

from bot.config import ConfigSection, config_section
from bot.working_hours import HoursError, WeeklyHours

_WEEKDAYS_9_TO_5 = {day: ("09:00-17:00",) for day in ("mon", "tue", "wed", "thu", "fri")}


@config_section
class HandoffConfig(ConfigSection):
    """Handoff to a person."""

    section: ClassVar[str] = "handoff"
    title: ClassVar[str] = "Handoff to a person"

    timezone: str = "UTC"
    """The team's IANA time zone; the working hours are wall-clock times in it."""
    hours: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(_WEEKDAYS_9_TO_5))
    """Working intervals per weekday (``mon``…``sun``), e.g. ``["09:00-12:00", "13:00-17:00"]``."""
    return_unclaimed_after_minutes: int = Field(default=120, ge=5, le=7 * 24 * 60)
    """Working minutes a handoff may wait unclaimed before the bot takes it back."""
    return_silent_after_minutes: int = Field(default=240, ge=5, le=7 * 24 * 60)
    """Working minutes after an agent's last claim or reply before the bot takes it back."""
    escalate_after_misunderstood: int = Field(default=2, ge=1, le=10)
    """Consecutive messages the bot did not understand before it hands over to a person."""
    ask_satisfaction: bool = True
    """Ask one 1–5 question after an agent resolves a conversation they answered."""

    @model_validator(mode="after")
    def _hours_make_sense(self) -> HandoffConfig:
        try:
            self.weekly_hours()
        except HoursError as error:
            raise ValueError(str(error)) from None
        return self

    def weekly_hours(self) -> WeeklyHours:
        """The timetable as a schedule of instants."""
        return WeeklyHours.parse(self.timezone, self.hours)

    @property
    def unclaimed_limit(self) -> timedelta:
        """Working time a handoff may wait for a claim."""
        return timedelta(minutes=self.return_unclaimed_after_minutes)

    @property
    def silent_limit(self) -> timedelta:
        """Working time an agent may stay silent."""
        return timedelta(minutes=self.return_silent_after_minutes)
