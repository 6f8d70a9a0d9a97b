"""The babel workflow behind ``bot locales``: extract, update, compile, add a locale.

Runs babel's own command-line front end, so the files are exactly what ``pybabel`` makes.
"""

from __future__ import annotations

import shutil

from babel.messages.frontend import CommandLineInterface

from bot import PROJECT_ROOT
from bot.i18n import LOCALES_DIR, parse_locale

POT = LOCALES_DIR / "messages.pot"
KEYWORDS = ["-k", "N_"]


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


def compile_all() -> None:
    """Compile every ``messages.po`` into the ``messages.mo`` the service loads."""
    _pybabel("compile", "-d", str(LOCALES_DIR), "--use-fuzzy")


def add(locale: str) -> None:
    """Start a new locale: a catalog to translate and an FAQ file to rewrite in it."""
    tag = str(parse_locale(locale))
    target = LOCALES_DIR / tag
    if (target / "LC_MESSAGES" / "messages.po").exists():
        raise FileExistsError(f"locale {tag} already exists")
    extract()
    _pybabel("init", "-i", str(POT), "-d", str(LOCALES_DIR), "-l", tag)
    shutil.copyfile(LOCALES_DIR / "en" / "faq.yaml", target / "faq.yaml")
