"""Editing message templates: every template's state in every locale and channel, checking and
previewing a text, saving it as a version, rolling back. The console, the API and
``bot templates check`` all go through here.

An edit is one locale's full text for one channel (``Scope.template``): operators write the
words their customers read, without gettext. The editor starts from the shipped template with
the locale's catalog applied (``template_translations.localize``); a shipped ``{% trans %}``
text is accepted as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.content_versions import (
    ContentKind,
    Edit,
    Scope,
    current_versions,
    digest,
    history,
    rollback_edit,
)
from bot.message_specs import MessageSpec
from bot.messages import Channel
from bot.render import TEMPLATES_DIR, Renderer, template_names
from bot.store.models import ContentVersion
from bot.template_lint import Refused, TemplateCheck, check_template
from bot.template_translations import (
    SOURCE_LOCALE,
    Coverage,
    Translation,
    load_catalog,
    localize,
    translation_state,
)


class UnknownTemplate(LookupError):
    """No such message; the message says which."""


class TemplateRefused(Refused):
    """The text breaks a rule; ``check`` (a TemplateCheck) lists every problem."""


@dataclass(frozen=True)
class TemplateStatus:
    """A template in one locale on one channel: where its text comes from and how it reads."""

    locale: str
    channel: Channel
    edited: ContentVersion | None
    """The operator's version in force (None: the shipped file)."""
    coverage: Coverage


@dataclass(frozen=True)
class TemplateRow:
    """One message with its state in every locale and channel."""

    spec: MessageSpec
    statuses: tuple[TemplateStatus, ...]


@dataclass(frozen=True)
class TemplateView:
    """Everything the editor shows for a template in one locale and channel."""

    spec: MessageSpec
    status: TemplateStatus
    version: int
    """The newest version number (0: never edited)."""
    source: str
    """The text in force: the operator's version, or the shipped file as it is."""
    editable: str
    """The text to start editing from: the version in force, or the shipped file localized."""
    shipped: str
    check: TemplateCheck
    history: tuple[ContentVersion, ...]


class TemplateEditor:
    """Reads, checks and versions message templates."""

    def __init__(self, renderer: Renderer, specs: Mapping[str, MessageSpec],
                 templates_dir: Path = TEMPLATES_DIR) -> None:
        self.renderer = renderer
        self.specs = dict(sorted(specs.items()))
        self.templates_dir = templates_dir

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales an edit may be saved for."""
        return self.renderer.locales

    # -- reading --------------------------------------------------------------------------------

    def spec(self, key: str) -> MessageSpec:
        """The declaration of a message; UnknownTemplate when there is none."""
        spec = self.specs.get(key)
        if spec is None:
            raise UnknownTemplate(f"no message {key!r}")
        return spec

    def shipped(self, key: str, channel: Channel) -> str:
        """The shipped file a channel uses for a message (its channel variant first)."""
        for name in template_names(key, channel):
            path = self.templates_dir / name
            if path.exists():
                return path.read_text(encoding="utf-8")
        raise UnknownTemplate(f"no file for {key!r} on {channel}")

    def localized(self, key: str, locale: str, channel: Channel) -> str:
        """The shipped text with the locale's catalog applied: what an edit starts from."""
        return localize(self.shipped(key, channel), self.renderer.translations(locale))

    def overview(self, session: Session) -> list[TemplateRow]:
        """Every message with its state in every locale and channel."""
        current = current_versions(session, ContentKind.TEMPLATE)
        return [TemplateRow(spec, tuple(self._status(spec.key, locale, channel, current)
                                        for locale in self.locales for channel in Channel))
                for spec in self.specs.values()]

    def view(self, session: Session, key: str, locale: str, channel: Channel) -> TemplateView:
        """A template in one locale and channel, with its check and history."""
        spec = self._scope(key, locale, channel)
        current = current_versions(session, ContentKind.TEMPLATE)
        status = self._status(key, locale, channel, current)
        versions = tuple(history(session, Scope.template(key, locale, channel)))
        shipped = self.shipped(key, channel)
        if status.edited is not None and status.edited.source is not None:
            source = editable = status.edited.source
        else:
            source, editable = shipped, self.localized(key, locale, channel)
        return TemplateView(spec, status, versions[0].version if versions else 0, source,
                            editable, shipped, self.check(key, locale, channel, source), versions)

    def _status(self, key: str, locale: str, channel: Channel,
                current: dict[Scope, ContentVersion]) -> TemplateStatus:
        own = current.get(Scope.template(key, locale, channel))
        edited = own if own is not None and own.source is not None else None
        return TemplateStatus(locale, channel, edited,
                              self._coverage(key, locale, channel, edited, current))

    def _coverage(self, key: str, locale: str, channel: Channel, edited: ContentVersion | None,
                  current: dict[Scope, ContentVersion]) -> Coverage:
        if edited is not None:
            if edited.shipped_digest != digest(self.localized(key, locale, channel)):
                return Coverage(Translation.STALE, f"the shipped text changed after version "
                                                   f"{edited.version}: compare and save again")
        else:
            coverage = translation_state(self.shipped(key, channel), locale, load_catalog(locale))
            if coverage.state is not Translation.OK:
                return coverage
        source_edit = current.get(Scope.template(key, SOURCE_LOCALE, channel))
        if (locale != SOURCE_LOCALE and source_edit is not None and source_edit.source is not None
                and (edited is None or source_edit.id > edited.id)):
            return Coverage(Translation.STALE, f"the {SOURCE_LOCALE} text was edited after this "
                                               f"one ({source_edit.author}, version "
                                               f"{source_edit.version}): review it")
        return Coverage(Translation.OK)

    # -- checking -------------------------------------------------------------------------------

    def _scope(self, key: str, locale: str, channel: Channel) -> MessageSpec:
        spec = self.spec(key)
        if locale not in self.locales:
            raise ValueError(f"locale must be one of {', '.join(self.locales)}")
        if not isinstance(channel, Channel):
            raise ValueError("channel must be sms or whatsapp")
        return spec

    def check(self, key: str, locale: str, channel: Channel, source: str,
              variables: Mapping[str, Any] | None = None) -> TemplateCheck:
        """Check (and render) a text as message ``key`` for ``locale`` on ``channel``;
        ``variables`` replace declared sample values (ValueError for undeclared ones)."""
        spec = self._scope(key, locale, channel)
        if unknown := set(variables or {}) - set(spec.variables):
            raise ValueError(f"{key} has no variable {', '.join(sorted(unknown))}")
        return check_template(normalize_source(source), spec, channel, locale, self.renderer,
                              variables)

    # -- versions -------------------------------------------------------------------------------

    def edit(self, key: str, locale: str, channel: Channel, source: str, *,
             note: str | None = None) -> Edit:
        """A text checked for saving as the next version (``save_version`` writes it);
        TemplateRefused with the problems otherwise."""
        source = normalize_source(source)
        self._approve(key, locale, channel, source)
        return Edit(Scope.template(key, locale, channel), source,
                    self.localized(key, locale, channel), note)

    def rollback(self, session: Session, key: str, locale: str, channel: Channel,
                 version: int | None) -> Edit:
        """The edit that rolls back to an older version (checked again: rules may have changed
        since), or to the shipped file when ``version`` is None."""
        self._scope(key, locale, channel)
        edit = rollback_edit(session, Scope.template(key, locale, channel), version,
                             shipped=self.localized(key, locale, channel))
        if edit.source is not None:
            self._approve(key, locale, channel, edit.source)
        return edit

    def _approve(self, key: str, locale: str, channel: Channel, source: str) -> None:
        """TemplateRefused unless the text keeps every rule."""
        if not (check := self.check(key, locale, channel, source)).ok:
            raise TemplateRefused(check)


def normalize_source(source: str) -> str:
    """A text as stored: browser line endings made plain."""
    return source.replace("\r\n", "\n").replace("\r", "\n")
