"""Every change to the run-time settings, audited: who changed which section, when, and each
field's value before and after. Saving goes through here so no change goes unrecorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import load_config, parse_section, save_section
from bot.store.models import ConfigChange


@dataclass(frozen=True)
class FieldChange:
    """One field of a section, before and after a change."""

    field: str
    before: Any
    after: Any


def save_audited(session: Session, name: str, data: Any, *, now: datetime,
                 author: str) -> ConfigChange | None:
    """Validate and save a section, recording the change; None when nothing changes.
    Raises ConfigError (field-level reasons) for invalid values."""
    value = parse_section(name, data)
    if load_config(session).get(type(value)) == value:
        return None
    before, after = save_section(session, name, data, now=now, updated_by=author)
    change = ConfigChange(section=name, before=before, after=after, changed_by=author,
                          changed_at=now)
    session.add(change)
    session.flush()
    return change


def recent_changes(session: Session, section: str | None = None,
                   limit: int = 50) -> list[ConfigChange]:
    """The latest changes, newest first (of one section, when given)."""
    query = select(ConfigChange).order_by(ConfigChange.id.desc()).limit(limit)
    if section is not None:
        query = query.where(ConfigChange.section == section)
    return list(session.scalars(query))


def changed_fields(change: ConfigChange) -> list[FieldChange]:
    """The fields a change touched, with their values before and after."""
    names = dict.fromkeys([*change.before, *change.after])
    return [FieldChange(name, change.before.get(name), change.after.get(name))
            for name in names if change.before.get(name) != change.after.get(name)]
