"""The babel workflow behind ``bot locales``: extract, update, compile, add a locale.

Runs babel's own command-line front end, so the files are exactly what ``pybabel`` makes.
"""

from __future__ import annotations

import shutil

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot import PROJECT_ROOT
from bot.i18n import LOCALES_DIR, parse_locale

POT = LOCALES_DIR / "messages.pot"
KEYWORDS = ["-k", "N_"]


class CatalogError(ValueError):
    """A catalog holds translations that would break a message; the message lists them."""


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    """Collect every translatable string into ``locales/messages.pot``."""
    _pybabel("extract", "-F", str(LOCALES_DIR / "babel.cfg"), *KEYWORDS,
             "--no-location", "--sort-output", "--project", "subscriber-support-bot",
             "-o", str(POT), str(PROJECT_ROOT))


def update() -> None:
    """Merge new strings into every locale's ``messages.po`` (existing translations kept)."""
    _pybabel("update", "-i", str(POT), "-d", str(LOCALES_DIR), "--no-fuzzy-matching")


def catalog_errors() -> list[str]:
    """Translations that would fail or garble a message once compiled (a placeholder the msgid
    does not have, a wrong number of plural forms), as ``<file>:<line>: <problem>``. Fuzzy
    entries are not compiled, so not checked."""
    problems = []
    for po in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name)
        problems += [f"{po.relative_to(LOCALES_DIR)}:{message.lineno}: {error}"
                     for message, errors in catalog.check() if not message.fuzzy
                     for error in errors]
    return problems


def compile_all() -> None:
    """Compile every ``messages.po`` into the ``messages.mo`` the service loads; CatalogError
    (and nothing compiled) when a translation would break its message. Fuzzy translations
    (their source changed) are left out, as the service's own compile of a newer ``.po`` does."""
    if problems := catalog_errors():
        raise CatalogError("not compiled: " + "; ".join(problems))
    _pybabel("compile", "-d", str(LOCALES_DIR))


def add(locale: str) -> None:
    """Start a new locale: a catalog to translate and an FAQ file to rewrite in it."""
    tag = str(parse_locale(locale))
    target = LOCALES_DIR / tag
    if (target / "LC_MESSAGES" / "messages.po").exists():
        raise FileExistsError(f"locale {tag} already exists")
    extract()
    _pybabel("init", "-i", str(POT), "-d", str(LOCALES_DIR), "-l", tag)
    shutil.copyfile(LOCALES_DIR / "en" / "faq.yaml", target / "faq.yaml")
