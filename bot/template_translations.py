"""How shipped templates stand in each locale: their text with the locale's catalog applied, and
which translations are missing or stale.

Shipped templates are written in English inside ``{% trans %}`` blocks; each locale's
``messages.po`` translates them. An operator's edit instead holds one locale's full text, so the
editor starts from the shipped template *localized*: every simple trans block replaced by its
translation, ``%(name)s`` placeholders back as ``{{ name }}``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from babel.util import pathmatch
from jinja2.ext import babel_extract

from bot import PROJECT_ROOT
from bot.i18n import LOCALES_DIR
from bot.render import TEMPLATES_DIR

SOURCE_LOCALE = "en"
"""The language the shipped templates (the catalogs' msgids) are written in."""
BABEL_CFG = LOCALES_DIR / "babel.cfg"
"""How ``bot locales extract`` reads the sources: which extractor, with which options."""
# With the indentation lstrip_blocks drops before a block tag and the newline trim_blocks drops
# after one: plain text in their place must not bring them back.
_TRANS_BLOCK = re.compile(
    r"(?:^[ \t]*)?\{%\s*trans(?P<params>(?:\s+[^%]*?)?)\s*%\}(?P<body>.*?)\{%\s*endtrans\s*%\}\n?",
    re.S | re.M)
_PARAM = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*(?:,|$)")
_NAME = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class Translation(StrEnum):
    """Whether a text reads right in a locale."""

    OK = "ok"
    STALE = "stale"
    """Translated, but its source changed since (fuzzy in the catalog, or edited after)."""
    MISSING = "missing"
    """Not translated: the customer gets English."""


@dataclass(frozen=True)
class Coverage:
    """A translation state and why."""

    state: Translation
    reason: str = ""


@dataclass(frozen=True)
class CatalogSummary:
    """How much of ``messages.pot`` a locale's catalog translates."""

    locale: str
    total: int
    translated: int
    fuzzy: int
    missing: int


@lru_cache(maxsize=1)
def _extract_options() -> dict[str, str]:
    """The options babel.cfg extracts message templates with, so msgids come out identical."""
    with BABEL_CFG.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(BABEL_CFG))
    # Any message template's path, as extraction sees it; babel takes the first section whose
    # pattern matches a file.
    template = (TEMPLATES_DIR / "flow" / "message.txt").relative_to(PROJECT_ROOT).as_posix()
    return next(options_map[pattern] for pattern, _ in method_map if pathmatch(pattern, template))


@lru_cache(maxsize=1024)
def msgids(source: str) -> tuple[str | tuple[str | None, ...], ...]:
    """The catalog entries a template's source uses, exactly as ``bot locales extract`` sees them."""
    found = babel_extract(io.BytesIO(source.encode()), list(DEFAULT_KEYWORDS), [],
                          _extract_options())
    return tuple(message for _, _, message, _ in found if message)


@lru_cache(maxsize=16)
def _read_catalog(path: Path, mtime: float, locale: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def load_catalog(locale: str, locales_dir: Path = LOCALES_DIR) -> Catalog | None:
    """The locale's ``messages.po`` (re-read when the file changes), or None without one."""
    path = locales_dir / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return None
    return _read_catalog(path, path.stat().st_mtime, locale)


def load_template_catalog(locales_dir: Path = LOCALES_DIR) -> Catalog | None:
    """``messages.pot``: every string there is to translate."""
    path = locales_dir / "messages.pot"
    return _read_catalog(path, path.stat().st_mtime, SOURCE_LOCALE) if path.exists() else None


def _translated(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


def translation_state(source: str, locale: str, catalog: Catalog | None) -> Coverage:
    """Whether every string of a shipped template is translated, and current, in ``locale``."""
    if locale == SOURCE_LOCALE:
        return Coverage(Translation.OK)
    missing, fuzzy = [], []
    for msgid in msgids(source):
        message = catalog.get(msgid) if catalog is not None else None
        label = msgid if isinstance(msgid, str) else msgid[0] or ""
        if message is None or not _translated(message.string):
            missing.append(label)
        elif message.fuzzy:
            fuzzy.append(label)
    if missing:
        return Coverage(Translation.MISSING, f"not translated: {_quote(missing)}")
    if fuzzy:
        return Coverage(Translation.STALE, f"marked fuzzy (source changed): {_quote(fuzzy)}")
    return Coverage(Translation.OK)


def _quote(labels: list[str]) -> str:
    return "; ".join(f"“{label[:60]}{'…' if len(label) > 60 else ''}”" for label in labels)


def catalog_summary(locale: str, locales_dir: Path = LOCALES_DIR) -> CatalogSummary:
    """How many of the strings to translate ``locale`` has translated, fuzzy or missing."""
    template = load_template_catalog(locales_dir)
    catalog = load_catalog(locale, locales_dir)
    ids = [message.id for message in template if message.id] if template is not None else []
    if locale == SOURCE_LOCALE:
        return CatalogSummary(locale, len(ids), len(ids), 0, 0)
    translated = fuzzy = 0
    for msgid in ids:
        message = catalog.get(msgid) if catalog is not None else None
        if message is None or not _translated(message.string):
            continue
        if message.fuzzy:
            fuzzy += 1
        else:
            translated += 1
    return CatalogSummary(locale, len(ids), translated, fuzzy, len(ids) - translated - fuzzy)


def _bindings(params: str) -> dict[str, str] | None:
    """``until=until|day, n=count`` → {"until": "until|day", "n": "count"}; None if unreadable."""
    bindings: dict[str, str] = {}
    position = 0
    params = params.strip()
    while position < len(params):
        match = _PARAM.match(params, position)
        if match is None or any(ch in match[2] for ch in "()[]{}\"'"):
            return None
        bindings[match[1]] = match[2]
        position = match.end()
    return bindings


def localize(source: str, translations: NullTranslations) -> str:
    """The template's text in one locale: each simple ``{% trans %}`` block replaced by its
    translation (``%(name)s`` → ``{{ name }}``, or ``{{ expression }}`` for a name the block
    binds, as in ``{% trans until=until|day %}``). Blocks with tags inside (plurals), whitespace
    control or a msgid this reading does not reproduce are kept as they are."""
    extracted = {m for m in msgids(source) if isinstance(m, str)}

    def replace(block: re.Match[str]) -> str:
        body = block["body"]
        bindings = _bindings(block["params"])
        if "{%" in body or "{#" in body or bindings is None:
            return block[0]
        pieces = _NAME.split(body)
        literals, names = pieces[0::2], pieces[1::2]
        if "%" in body and not names:
            # jinja2 looks such a block up with "%%" where extraction recorded "%".
            return block[0]
        msgid = "".join(literal.replace("%", "%%") + (f"%({names[i]})s" if i < len(names) else "")
                        for i, literal in enumerate(literals))
        if msgid not in extracted:
            return block[0]
        translated = translations.gettext(msgid)
        if set(_PLACEHOLDER.findall(translated)) - set(names):
            return block[0]
        return _PLACEHOLDER.sub(lambda m: "{{ " + bindings.get(m[1], m[1]) + " }}",
                                translated).replace("%%", "%")

    return _TRANS_BLOCK.sub(replace, source)
