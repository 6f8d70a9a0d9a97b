"""Operators' edits of what the bot says, kept as versions in the database.

A *scope* is one editable text: a message template in one locale on one channel, or the FAQ of
one locale. Every save appends a version (author, time, diff from the text it replaced); the
newest version of a scope overrides the file shipped in the repository, and a version without
source puts the shipped file back. Rolling back appends a copy of an older version, so the
history only grows and always says who did what.

Running processes see edits through ``ContentOverrides``: a snapshot of every scope's current
text, re-read only when the newest version id changed (one small query per turn batch, like
``ConfigCache``).
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import ContentVersion

FAQ_KEY = "faq"


class ContentKind(StrEnum):
    """What a version holds."""

    TEMPLATE = "template"
    FAQ = "faq"


@dataclass(frozen=True)
class Scope:
    """One editable text: a template in a locale on a channel, or a locale's FAQ."""

    kind: ContentKind
    key: str
    locale: str
    channel: str = ""

    @classmethod
    def template(cls, key: str, locale: str, channel: str) -> Scope:
        """A message template in one locale on one channel."""
        return cls(ContentKind.TEMPLATE, key, locale, channel)

    @classmethod
    def faq(cls, locale: str) -> Scope:
        """The FAQ of one locale."""
        return cls(ContentKind.FAQ, FAQ_KEY, locale)

    @classmethod
    def of(cls, row: ContentVersion) -> Scope:
        """The scope a stored version belongs to."""
        return cls(ContentKind(row.kind), row.key, row.locale, row.channel)

    @property
    def label(self) -> str:
        """How people read the scope: ``faq.greeting (es, sms)``, ``FAQ (pt_BR)``."""
        if self.kind is ContentKind.FAQ:
            return f"FAQ ({self.locale})"
        return f"{self.key} ({self.locale}, {self.channel})"

    def where(self) -> tuple[Any, ...]:
        """SQL conditions selecting this scope's versions."""
        return (ContentVersion.kind == str(self.kind), ContentVersion.key == self.key,
                ContentVersion.locale == self.locale, ContentVersion.channel == self.channel)


@dataclass(frozen=True)
class Edit:
    """A change to one scope, ready to be written as its next version.

    The editors hand out checked edits only, made before the write transaction (checking
    renders and parses) so that the transaction only writes.
    """

    scope: Scope
    source: str | None
    """The new text (None: back to the shipped file)."""
    shipped: str
    """The shipped file's text now: the base of the diff when nothing was edited before."""
    note: str | None = None


class UnknownVersion(LookupError):
    """No such version; the message says which."""


class VersionConflict(Exception):
    """Someone saved the scope since the editor loaded it; the message says which version."""


@dataclass(frozen=True)
class Override:
    """The text currently in force for a scope, from the database."""

    id: int
    version: int
    source: str


@dataclass(frozen=True)
class OverrideSnapshot:
    """Every scope's current edited text; ``revision`` changes whenever it does."""

    revision: int
    by_scope: dict[Scope, Override] = field(default_factory=dict)

    def template(self, key: str, locale: str, channel: str) -> Override | None:
        """The edited text of a template in a locale on a channel, if any."""
        return self.by_scope.get(Scope.template(key, locale, channel))

    def faq(self, locale: str) -> Override | None:
        """The edited FAQ of a locale, if any."""
        return self.by_scope.get(Scope.faq(locale))


class ContentOverrides:
    """The last snapshot read, re-read only when a version was saved since (by any process)."""

    def __init__(self) -> None:
        self._snapshot = OverrideSnapshot(revision=-1)
        self._marker: tuple[int, int] | None = None
        # Store threads refresh concurrently; checking and installing under one lock keeps a
        # slower thread from putting back an older snapshot after a newer one.
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> OverrideSnapshot:
        """The snapshot of the last refresh (empty before the first)."""
        return self._snapshot

    def refresh(self, session: Session) -> OverrideSnapshot:
        """Bring the snapshot up to date (one small query when nothing changed)."""
        with self._lock:
            # Core, not ORM: once per batch, and it must not trigger an autoflush. Versions are
            # only ever added, so the newest id and the count change with every commit — the
            # newest id alone does not: on PostgreSQL a save can commit after one with a higher id.
            newest, count = session.connection().execute(
                select(func.max(ContentVersion.id), func.count(ContentVersion.id))).one()
            marker = (newest or 0, count)
            if marker != self._marker:
                rows = current_versions(session)
                # Replaced whole, never mutated: renderers on other threads read one snapshot
                # or the other. The revision only tells this process's caches it changed.
                self._snapshot = OverrideSnapshot(self._snapshot.revision + 1, {
                    scope: Override(row.id, row.version, row.source)  # type: ignore[arg-type]
                    for scope, row in rows.items() if row.source is not None})
                self._marker = marker
            return self._snapshot


def digest(text: str) -> str:
    """The sha256 of a text, to notice later that a shipped file changed under an edit."""
    return hashlib.sha256(text.encode()).hexdigest()


def text_diff(before: str, after: str, *, before_name: str, after_name: str) -> str:
    """A unified diff between two texts (empty when they are equal)."""
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=before_name, tofile=after_name, lineterm="\n"))


def current_versions(session: Session, kind: ContentKind | None = None) -> dict[Scope, ContentVersion]:
    """The newest version of every scope (of one kind, when given), restores included."""
    newest = select(func.max(ContentVersion.id)).group_by(
        ContentVersion.kind, ContentVersion.key, ContentVersion.locale, ContentVersion.channel)
    if kind is not None:
        newest = newest.where(ContentVersion.kind == str(kind))
    rows = session.scalars(select(ContentVersion).where(ContentVersion.id.in_(newest)))
    return {Scope.of(row): row for row in rows}


def current_version(session: Session, scope: Scope) -> ContentVersion | None:
    """The newest version of a scope, if it was ever edited."""
    return session.scalars(select(ContentVersion).where(*scope.where())
                           .order_by(ContentVersion.version.desc()).limit(1)).first()


def history(session: Session, scope: Scope) -> list[ContentVersion]:
    """Every version of a scope, newest first."""
    return list(session.scalars(select(ContentVersion).where(*scope.where())
                                .order_by(ContentVersion.version.desc())))


def find_version(session: Session, scope: Scope, version: int) -> ContentVersion | None:
    """One version of a scope by its number."""
    return session.scalars(select(ContentVersion).where(
        *scope.where(), ContentVersion.version == version)).first()


def conflict(base_version: int | None, current: ContentVersion | None) -> VersionConflict | None:
    """The conflict when an editor started from ``base_version`` (0: the shipped file) but
    ``current`` is the newest version now; None when they agree or no base was given."""
    number = current.version if current else 0
    if base_version is None or base_version == number:
        return None
    return VersionConflict(f"version {number} was saved by {current.author if current else '?'} "
                           f"after you opened this text; reload it and apply your change again")


def save_version(session: Session, edit: Edit, *, author: str, now: datetime,
                 base_version: int | None = None) -> ContentVersion | None:
    """Append a version of ``edit.scope`` holding ``edit.source``; None when the text in force
    is that text already (nothing to save).

    With ``base_version`` (the version the editor started from; 0 for the shipped file) a save
    made after someone else's raises VersionConflict instead of silently replacing it.
    """
    scope, source, shipped = edit.scope, edit.source, edit.shipped
    current = current_version(session, scope)
    number = current.version if current else 0
    if (error := conflict(base_version, current)) is not None:
        raise error
    in_force = current.source if current and current.source is not None else None
    if source == in_force:
        return None
    before_name = f"version {number}" if in_force is not None else "shipped file"
    after_name = f"version {number + 1}" if source is not None else "shipped file"
    row = ContentVersion(
        kind=str(scope.kind), key=scope.key, locale=scope.locale, channel=scope.channel,
        version=number + 1, source=source, shipped_digest=digest(shipped),
        diff=text_diff(in_force if in_force is not None else shipped,
                       source if source is not None else shipped,
                       before_name=before_name, after_name=after_name),
        note=edit.note, author=author, created_at=now)
    session.add(row)
    session.flush()
    return row


def rollback_edit(session: Session, scope: Scope, version: int | None, *, shipped: str) -> Edit:
    """The edit that rolls ``scope`` back to an older version's text, or with ``version`` None
    to the shipped file; UnknownVersion when there is no such version. Not checked here: the
    editor checks the old text against today's rules."""
    source, note = None, "restored the shipped file"
    if version is not None:
        old = find_version(session, scope, version)
        if old is None:
            raise UnknownVersion(f"{scope.label} has no version {version}")
        if old.source is not None:
            source, note = old.source, f"restored version {version}"
    return Edit(scope, source, shipped, note)
