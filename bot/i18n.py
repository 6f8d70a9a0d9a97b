"""Locales: which one a contact gets, and babel formatting of dates and money in it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.languages import get_official_languages
from babel.numbers import format_currency

from bot import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"


@lru_cache(maxsize=1)
def shipped_locales() -> tuple[str, ...]:
    """Locales with a catalog under locales/ (e.g. ``en``, ``es``, ``pt_BR``)."""
    return tuple(sorted(p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")))


def parse_locale(tag: str) -> Locale:
    """Parse ``pt-BR``/``pt_BR``/``es`` into a babel Locale, or raise ValueError."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as error:
        raise ValueError(f"unknown locale {tag!r}") from error


def best_locale(requested: str | None, region: str | None, default: str) -> str:
    """The shipped locale to speak: the contact's own if we ship it (or its language),
    else one official in the number's region, else the default."""
    shipped = shipped_locales() or (default,)
    candidates: list[str] = []
    if requested:
        candidates.append(requested.replace("-", "_"))
        candidates.append(requested.replace("-", "_").split("_")[0])
    if region:
        for language in get_official_languages(region, de_facto=True):
            candidates.append(f"{language}_{region}")
            candidates.append(language)
    chosen = negotiate_locale(candidates, shipped, sep="_")
    if chosen:
        return chosen
    # Babel maps a bare "pt" to pt_PT only: a Portuguese speaker still reads our pt_BR better
    # than the default language.
    for candidate in candidates:
        language = candidate.split("_")[0]
        for locale in shipped:
            if locale.split("_")[0] == language:
                return locale
    return default


def browser_locale(accept_language: str, default: str) -> str:
    """The shipped locale a browser's ``Accept-Language`` asks for first, for a page that knows
    nobody (a link's error page): tags in the header's order, ``*`` ignored, else ``default``."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*":
            chosen = best_locale(tag, None, "")
            if chosen:
                return chosen
    return default


def format_money(amount: Decimal | str | float, currency: str, locale: str) -> str:
    """``19.00 USD`` as the contact reads it (``$19.00``, ``US$ 19,00``…)."""
    return format_currency(Decimal(str(amount)), currency.upper(), locale=locale)


def format_day(value: date | datetime, locale: str) -> str:
    """A date in the contact's locale, long form (``March 3, 2026``, ``3 de março de 2026``)."""
    return format_date(value, format="long", locale=locale)


def format_moment(value: datetime, locale: str, tzinfo: str | None = None) -> str:
    """A date and time in the contact's locale and zone."""
    return format_datetime(value, format="medium", tzinfo=tzinfo, locale=locale)
