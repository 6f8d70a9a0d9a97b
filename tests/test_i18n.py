"""Choosing a shipped locale for a browser that carries no contact."""

import pytest

from bot.i18n import best_locale, browser_locale


@pytest.mark.parametrize(("header", "expected"), [
    ("es-MX,es;q=0.9,en;q=0.8", "es"),
    ("pt-BR", "pt_BR"),
    ("pt-PT,en;q=0.5", "pt_BR"),  # the language we ship, in its one shipped variant
    ("de-DE,fr;q=0.9,es;q=0.5", "es"),  # the first tag we ship, not the first tag
    ("*", "en"),
    ("", "en"),
    (" ;q=0.1, , de", "en"),
])
def test_the_first_shipped_language_the_browser_asks_for(header: str, expected: str) -> None:
    assert browser_locale(header, "en") == expected


@pytest.mark.parametrize(("requested", "region", "expected"), [
    ("pt", None, "pt_BR"),  # babel alone would say pt_PT, which we do not ship
    ("pt_PT", None, "pt_BR"),
    (None, "PT", "pt_BR"),  # a +351 number with no locale given
    ("es_AR", None, "es"),
    ("de", None, "en"),
    ("de", "MX", "es"),  # not shipped: the language official in the number's region
])
def test_a_contact_gets_their_language_in_the_variant_we_ship(requested, region, expected):
    assert best_locale(requested, region, "en") == expected
