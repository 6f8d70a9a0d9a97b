"""Turn a flow's ``Say`` into channel-ready text in the contact's locale.

Templates live in ``templates/<flow>/<name>.txt`` with optional channel variants
``<name>.sms.txt`` / ``<name>.whatsapp.txt``. They are jinja2 with babel's i18n extension
(``{% trans %}``), rendered in a sandbox because operators edit them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import BaseLoader, FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from bot import PROJECT_ROOT
from bot.i18n import LOCALES_DIR, format_day, format_moment, format_money
from bot.messages import Channel, Choice, Rendered, Say
from bot.segments import normalize_for_sms

TEMPLATES_DIR = PROJECT_ROOT / "templates"
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
_BLANK_LINES = re.compile(r"\n{3,}")


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


class Renderer:
    """Renders templates per locale and channel; one cached environment per locale."""

    def __init__(self, locales: Iterable[str], default_locale: str,
                 loader: BaseLoader | None = None, brand: str = "Support") -> None:
        self.default_locale = default_locale
        self.brand = brand
        self._translations = {locale: load_translations(locale)
                              for locale in {*locales, default_locale}}
        self._envs = {locale: make_environment(locale, translations, loader)
                      for locale, translations in self._translations.items()}

    def environment(self, locale: str) -> SandboxedEnvironment:
        """The environment for ``locale`` (the default locale's when not shipped)."""
        env = self._envs.get(locale)
        if env is None:
            env = self._envs[self.default_locale]
        return env

    def template(self, key: str, channel: Channel, locale: str) -> Template:
        """The template for a key, channel variant first."""
        env = self.environment(locale)
        try:
            return env.select_template(template_names(key, channel))
        except Exception as error:  # jinja2 raises several kinds for a missing/broken template
            raise RenderError(f"template {key!r} for {channel}: {error}") from error

    def translate(self, message: str, locale: str) -> str:
        """Translate a plain label (button titles marked with ``N_`` in flows)."""
        translations = self._translations.get(locale) or self._translations[self.default_locale]
        return translations.gettext(message)

    def render(self, say: Say, channel: Channel, locale: str) -> Rendered:
        """Render a Say for a channel: text plus at most three buttons, or a numbered menu."""
        variables: dict[str, Any] = {"brand": self.brand, "channel": str(channel), **say.variables}
        template = self.template(say.template, channel, locale)
        try:
            body = tidy(template.render(variables))
            if channel is Channel.SMS:
                body = normalize_for_sms(body)
        except Exception as error:  # a template error must name the template, whatever its kind
            raise RenderError(f"template {say.template!r} failed: {error}") from error
        choices = tuple(
            Choice(choice.payload, self.translate(choice.title, locale)) for choice in say.choices
        )
        if not choices:
            return Rendered(body)
        as_buttons = (
            channel is Channel.WHATSAPP
            and len(choices) <= MAX_BUTTONS
            and all(len(c.title) <= MAX_BUTTON_TITLE for c in choices)
        )
        if as_buttons:
            return Rendered(body, choices, buttons=True)
        menu = tidy(self.template("common.menu", channel, locale).render(choices=choices))
        if channel is Channel.SMS:
            menu = normalize_for_sms(menu)
        return Rendered(f"{body}\n\n{menu}", choices)
