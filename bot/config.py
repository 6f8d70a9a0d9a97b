"""Settings operators change while the service runs (quiet hours, pause lengths, dunning
schedule, working hours…): typed sections with defaults and validation, stored in the database
and picked up by every process without a restart.

A feature declares its section next to the code that reads it::

    @config_section
    class PauseConfig(ConfigSection):
        section: ClassVar[str] = "pause"
        title: ClassVar[str] = "Pausing a subscription"
        lengths_months: tuple[int, ...] = (1, 2, 3)

and reads it from the turn's snapshot: ``turn.config.get(PauseConfig).lengths_months``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import ConfigEntry

log = logging.getLogger(__name__)


class ConfigSection(BaseModel):
    """One group of related settings; every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    section: ClassVar[str]
    title: ClassVar[str]


S = TypeVar("S", bound=ConfigSection)
_SECTIONS: dict[str, type[ConfigSection]] = {}


def config_section(cls: type[S]) -> type[S]:
    """Register a section class (a class decorator)."""
    existing = _SECTIONS.get(cls.section)
    if existing is not None and existing is not cls:
        raise ValueError(f"config section {cls.section!r} is declared twice")
    _SECTIONS[cls.section] = cls
    return cls


def config_sections() -> dict[str, type[ConfigSection]]:
    """Every registered section, by name."""
    return dict(_SECTIONS)


@dataclass(frozen=True)
class FieldProblem:
    """Why one field of a section was refused."""

    field: str
    reason: str


class ConfigError(ValueError):
    """A section's new values were refused; ``problems`` says which field and why."""

    def __init__(self, section: str, problems: list[FieldProblem]) -> None:
        super().__init__(f"{section}: " + "; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.section = section
        self.problems = problems


class BotConfig:
    """A consistent snapshot of every section (defaults where nothing is stored)."""

    def __init__(self, stored: dict[str, ConfigSection], version: int) -> None:
        self._stored = stored
        self.version = version

    def get(self, section: type[S]) -> S:
        """The current values of ``section``."""
        value = self._stored.get(section.section)
        return value if isinstance(value, section) else section()


def parse_section(name: str, data: Any) -> ConfigSection:
    """Validate ``data`` as section ``name``; ConfigError with field-level reasons otherwise.
    A value of the section already (validated before a write transaction) is returned as is."""
    section = _SECTIONS.get(name)
    if section is None:
        raise ConfigError(name, [FieldProblem("", f"unknown section {name!r}")])
    if isinstance(data, section):
        return data
    try:
        return section.model_validate(data)
    except ValidationError as error:
        problems = [FieldProblem(".".join(str(p) for p in issue["loc"]) or "", issue["msg"])
                    for issue in error.errors()]
        raise ConfigError(name, problems) from None


def load_config(session: Session) -> BotConfig:
    """Read every stored section. A stored section that no longer validates (an older shape)
    falls back to its defaults rather than stopping the service, and is logged."""
    stored: dict[str, ConfigSection] = {}
    version = 0
    for entry in session.scalars(select(ConfigEntry)):
        version = max(version, entry.version)
        try:
            stored[entry.name] = parse_section(entry.name, entry.value)
        except ConfigError as error:
            log.warning("stored settings no longer valid, using the defaults: %s", error)
    return BotConfig(stored, version)


def save_section(session: Session, name: str, data: Any, *, now: datetime,
                 updated_by: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate and store a section; returns its values (before, after) as JSON-ready dicts."""
    value = parse_section(name, data)
    before = load_config(session).get(type(value)).model_dump(mode="json")
    after = value.model_dump(mode="json")
    version = (session.scalar(select(func.max(ConfigEntry.version))) or 0) + 1
    entry = session.get(ConfigEntry, name)
    if entry is None:
        session.add(ConfigEntry(name=name, value=after, version=version, updated_at=now,
                                updated_by=updated_by))
    else:
        entry.value, entry.version = after, version
        entry.updated_at, entry.updated_by = now, updated_by
    return before, after


class ConfigCache:
    """The last snapshot read, re-read only when a stored version changed."""

    def __init__(self) -> None:
        self._config: BotConfig | None = None

    def current(self, session: Session) -> BotConfig:
        """The up-to-date snapshot (one small query when nothing changed)."""
        # Core, not ORM: this runs once per batch and must not trigger an autoflush.
        version = session.connection().execute(
            select(func.max(ConfigEntry.version))).scalar() or 0
        if self._config is None or self._config.version != version:
            self._config = load_config(session)
        return self._config
