"""Turn a flow's ``Say`` into channel-ready text in the contact's locale.

Templates live in ``templates/<flow>/<name>.txt`` with optional channel variants
``<name>.sms.txt`` / ``<name>.whatsapp.txt``. They are jinja2 with babel's i18n extension
(``{% trans %}``), rendered in a sandbox because operators edit them.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from bot import PROJECT_ROOT
from bot.i18n import LOCALES_DIR, format_day, format_moment, format_money
from bot.messages import N_, Channel, Choice, Rendered, Say
from bot.segments import normalize_for_sms

if TYPE_CHECKING:
    from bot.content_versions import ContentOverrides

TEMPLATES_DIR = PROJECT_ROOT / "templates"
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
MAX_LIST_TITLE = 24
LIST_BUTTON = N_("Choose an option")
"""The label of the button that opens a WhatsApp list (at most 20 characters in every locale)."""
_BLANK_LINES = re.compile(r"\n{3,}")


FILES_CHECK_INTERVAL = timedelta(seconds=1)


def _files_stamp() -> tuple[int, int]:
    """Changes when a shipped template file is added, removed or edited."""
    stamps = [path.stat().st_mtime_ns for path in TEMPLATES_DIR.glob("*/*.txt")]
    return len(stamps), max(stamps, default=0)


class Picker(StrEnum):
    """How WhatsApp can show a set of choices."""

    BUTTONS = "buttons"
    """Quick-reply buttons: at most 3, titles of at most 20 characters."""
    LIST = "list"
    """A list behind one button: at most 10 rows, titles of at most 24 characters."""
    MENU = "menu"
    """Neither fits: a numbered menu in the text, as on SMS."""


def whatsapp_picker(titles: Sequence[str]) -> Picker:
    """The richest way WhatsApp accepts these choice titles (Twilio rejects oversized ones)."""
    longest = max((len(title) for title in titles), default=0)
    if len(titles) <= MAX_BUTTONS and longest <= MAX_BUTTON_TITLE:
        return Picker.BUTTONS
    if len(titles) <= MAX_LIST_ROWS and longest <= MAX_LIST_TITLE:
        return Picker.LIST
    return Picker.MENU


class RenderError(Exception):
    """A template is missing or failed to render; the message says which."""


def load_translations(locale: str, locales_dir: Path = LOCALES_DIR) -> NullTranslations:
    """The locale's catalog: the compiled ``.mo`` when current, else compiled from the ``.po``.

    Compiling a newer ``.po`` in memory means an operator's edited catalog is used even before
    anyone runs ``bot locales compile``.
    """
    po = locales_dir / locale / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(handle, domain="messages")
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def split_template_name(name: str) -> tuple[str, Channel] | None:
    """``faq/greeting.sms.txt`` → (``faq.greeting``, SMS); None for a name without a channel."""
    flow, _, file_name = name.partition("/")
    parts = file_name.split(".")
    if len(parts) != 3 or parts[2] != "txt" or parts[1] not in tuple(Channel):
        return None
    return f"{flow}.{parts[0]}", Channel(parts[1])


class EditedTemplateLoader(BaseLoader):
    """Operators' saved versions first, then the shipped files.

    An edit is stored per locale and channel, so it answers the channel-specific name
    (``<flow>/<name>.<channel>.txt``) that ``template_names`` tries first. The snapshot is
    refreshed by the processor once per batch inside the turn's transaction; here it is only
    read, and jinja2's ``uptodate`` check recompiles a template once its edit changes.
    """

    def __init__(self, edits: ContentOverrides, locale: str, files: BaseLoader) -> None:
        self.edits = edits
        self.locale = locale
        self.files = files

    def get_source(self, environment: Environment,
                   template: str) -> tuple[str, str | None, Callable[[], bool]]:
        scope = split_template_name(template)
        if scope is None:
            return self.files.get_source(environment, template)
        key, channel = scope
        edit = self.edits.snapshot.template(key, self.locale, channel)
        if edit is not None:
            def edit_current() -> bool:
                now = self.edits.snapshot.template(key, self.locale, channel)
                return now is not None and now.id == edit.id

            return edit.source, None, edit_current
        source, filename, file_current = self.files.get_source(environment, template)

        def still_shipped() -> bool:
            return bool(file_current()) and (
                self.edits.snapshot.template(key, self.locale, channel) is None)

        return source, filename, still_shipped


def make_environment(locale: str, translations: NullTranslations,
                     loader: BaseLoader | None = None) -> SandboxedEnvironment:
    """A sandboxed jinja2 environment speaking ``locale``."""
    env = SandboxedEnvironment(
        loader=loader or FileSystemLoader(TEMPLATES_DIR),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = lambda amount, currency: format_money(amount, currency, locale)
    env.filters["day"] = partial(format_day, locale=locale)
    env.filters["moment"] = lambda value, tz=None: format_moment(value, locale, tz)
    env.globals["locale"] = locale
    return env


def template_names(key: str, channel: Channel) -> list[str]:
    """Candidate file names for a template key on a channel, most specific first."""
    flow, _, name = key.partition(".")
    if not name or "/" in key or ".." in key:
        raise RenderError(f"bad template key {key!r} (expected <flow>.<name>)")
    return [f"{flow}/{name}.{channel}.txt", f"{flow}/{name}.txt"]


def tidy(text: str) -> str:
    """Trim trailing spaces and runs of blank lines that template logic leaves behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines))


def render_body(template: Template, variables: dict[str, Any], channel: Channel) -> str:
    """The text a template produces on a channel: tidied, and GSM-7 typography on SMS."""
    body = tidy(template.render(variables))
    return normalize_for_sms(body) if channel is Channel.SMS else body


class Renderer:
    """Renders templates per locale and channel; one cached environment per locale."""

    def __init__(self, locales: Iterable[str], default_locale: str,
                 loader: BaseLoader | None = None, brand: str = "Support",
                 edits: ContentOverrides | None = None) -> None:
        self.default_locale = default_locale
        self.brand = brand
        self._translations = {locale: load_translations(locale)
                              for locale in {*locales, default_locale}}
        files = loader or FileSystemLoader(TEMPLATES_DIR)
        self._envs = {
            locale: make_environment(
                locale, translations,
                files if edits is None else EditedTemplateLoader(edits, locale, files))
            for locale, translations in self._translations.items()}
        self._edits = edits
        # Templates resolved once and reused: looking one up in jinja2 costs a failed lookup for
        # the channel variant and an mtime check on every render. Keyed by the operators'
        # edit revision; template files are re-checked by refresh(), once per batch.
        self._resolved: dict[tuple[str, Channel, str, int], Template] = {}
        self._resolving = threading.Lock()  # one writer at a time; lookups need no lock
        self._files_stamp = _files_stamp()
        self._files_checked: datetime | None = None

    def refresh(self, now: datetime) -> None:
        """Notice template files changed on disk (the processor calls this once per batch; the
        files are looked at most once a second — operators' edits do not wait for it)."""
        if self._files_checked is not None and now - self._files_checked < FILES_CHECK_INTERVAL:
            return
        self._files_checked = now
        stamp = _files_stamp()
        if stamp != self._files_stamp:
            self._files_stamp = stamp
            self._resolved = {}

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales this renderer has catalogs for."""
        return tuple(sorted(self._envs))

    def translations(self, locale: str) -> NullTranslations:
        """The catalog of ``locale`` (the default locale's when not shipped)."""
        return self._translations.get(locale) or self._translations[self.default_locale]

    def context(self, channel: Channel, variables: dict[str, Any]) -> dict[str, Any]:
        """What a template sees: the message's variables plus ``brand`` and ``channel``."""
        return {"brand": self.brand, "channel": str(channel), **variables}

    def environment(self, locale: str) -> SandboxedEnvironment:
        """The environment for ``locale`` (the default locale's when not shipped)."""
        env = self._envs.get(locale)
        if env is None:
            env = self._envs[self.default_locale]
        return env

    def template(self, key: str, channel: Channel, locale: str) -> Template:
        """The template for a key, channel variant first."""
        revision = self._edits.snapshot.revision if self._edits is not None else 0
        memo = (key, channel, locale, revision)
        template = self._resolved.get(memo)
        if template is not None:
            return template
        env = self.environment(locale)
        try:
            template = env.select_template(template_names(key, channel))
        except Exception as error:  # jinja2 raises several kinds for a missing/broken template
            raise RenderError(f"template {key!r} for {channel}: {error}") from error
        with self._resolving:  # the store's lanes fill the cache at once after an edit
            resolved = self._resolved
            if resolved and next(iter(resolved))[3] != revision:
                resolved = self._resolved = {}  # an edit was saved: drop the older revision's
            resolved[memo] = template
        return template

    def translate(self, message: str, locale: str) -> str:
        """Translate a plain label (button titles marked with ``N_`` in flows)."""
        return self.translations(locale).gettext(message)

    def render(self, say: Say, channel: Channel, locale: str) -> Rendered:
        """Render a Say for a channel: text plus WhatsApp buttons or a list, or a numbered menu."""
        template = self.template(say.template, channel, locale)
        try:
            body = render_body(template, self.context(channel, say.variables), channel)
        except Exception as error:  # a template error must name the template, whatever its kind
            raise RenderError(f"template {say.template!r} failed: {error}") from error
        choices = tuple(
            Choice(choice.payload, self.translate(choice.title, locale)) for choice in say.choices
        )
        if not choices:
            return Rendered(body)
        picker = (whatsapp_picker([c.title for c in choices])
                  if channel is Channel.WHATSAPP else Picker.MENU)
        if picker is Picker.BUTTONS:
            return Rendered(body, choices, buttons=True)
        if picker is Picker.LIST:
            return Rendered(body, choices, buttons=True,
                            # An edited translation too long for WhatsApp is cut, not refused by Twilio.
                            list_button=self.translate(LIST_BUTTON, locale)[:MAX_BUTTON_TITLE])
        menu = render_body(self.template("common.menu", channel, locale),
                           self.context(channel, {"choices": choices}), channel)
        return Rendered(f"{body}\n\n{menu}", choices)
