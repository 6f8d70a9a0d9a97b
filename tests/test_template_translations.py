"""Shipped templates in each locale: localized text for the editor, and which translations are
missing or stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n import shipped_locales
from bot.message_specs import load_message_specs
from bot.messages import Channel
from bot.render import Renderer, render_body
from bot.template_translations import (
    Translation,
    catalog_summary,
    load_catalog,
    localize,
    msgids,
    translation_state,
)

renderer = Renderer(shipped_locales(), "en")
GREETING = "{% trans %}Hi! I'm the {{ brand }} assistant.{% endtrans %}"
THANKS = "{% trans %}Thanks, {{ brand }} is 100% done.{% endtrans %}"
BYE = "{% trans %}Bye for now.{% endtrans %}"


def _write_catalogs(root: Path) -> None:
    """A 'fr' catalog with one string translated, one fuzzy and one missing."""
    template = Catalog(locale="en")
    for msgid in ("Hi! I'm the %(brand)s assistant.", "Thanks, %(brand)s is 100%% done.",
                  "Bye for now."):
        template.add(msgid)
    with (root / "messages.pot").open("wb") as handle:
        write_po(handle, template)
    french = Catalog(locale="fr")
    french.add("Hi! I'm the %(brand)s assistant.", "Salut ! Je suis l'assistant de %(brand)s.")
    french.add("Thanks, %(brand)s is 100%% done.", "Merci, %(brand)s a fini à 100%%.",
               flags=["fuzzy"])
    (root / "fr" / "LC_MESSAGES").mkdir(parents=True)
    with (root / "fr" / "LC_MESSAGES" / "messages.po").open("wb") as handle:
        write_po(handle, french)


def test_msgids_are_what_extraction_sees() -> None:
    """Variables become %(name)s and a literal % is doubled, as in the catalogs."""
    assert msgids(GREETING + THANKS) == ("Hi! I'm the %(brand)s assistant.",
                                         "Thanks, %(brand)s is 100%% done.")


def test_msgids_use_the_options_of_babel_cfg() -> None:
    """Templates are read with babel.cfg's options, as ``bot locales extract`` reads them: the
    newline after a block tag is dropped (trim_blocks), so the msgid has none."""
    assert msgids("{% trans %}\nBye for now.{% endtrans %}") == ("Bye for now.",)


def test_missing_and_fuzzy_translations_are_marked(tmp_path: Path) -> None:
    """A translated string is ok, a fuzzy one stale, an absent one missing; English is the
    source and always ok."""
    _write_catalogs(tmp_path)
    french = load_catalog("fr", tmp_path)
    assert translation_state(GREETING, "fr", french).state is Translation.OK
    stale = translation_state(GREETING + THANKS, "fr", french)
    assert stale.state is Translation.STALE and "Thanks" in stale.reason
    missing = translation_state(THANKS + BYE, "fr", french)
    assert missing.state is Translation.MISSING and "Bye for now" in missing.reason
    assert translation_state(BYE, "en", None).state is Translation.OK
    assert translation_state(BYE, "de", load_catalog("de", tmp_path)).state is Translation.MISSING


def test_catalog_summary_counts_each_string(tmp_path: Path) -> None:
    """The summary counts translated, fuzzy and missing strings of messages.pot."""
    _write_catalogs(tmp_path)
    summary = catalog_summary("fr", tmp_path)
    assert (summary.total, summary.translated, summary.fuzzy, summary.missing) == (3, 1, 1, 1)
    assert catalog_summary("en", tmp_path).translated == 3


def test_localize_replaces_simple_blocks_and_keeps_the_rest() -> None:
    """Simple trans blocks become the locale's text with {{ variables }}; a plural block is kept."""
    spanish = renderer.translations("es")
    assert localize("{% trans %}Main menu{% endtrans %}", spanish) == "Menú principal"
    plural = "{% trans count=n %}One{% pluralize %}{{ count }} more{% endtrans %}"
    assert localize(plural, spanish) == plural
    assert localize("  {% trans %}Not in any catalog{% endtrans %}\nX", spanish) == "Not in any catalogX"
    # jinja2 looks up "100%% sure" but extraction records "100% sure": no exact reading, kept.
    assert localize("{% trans %}100% sure{% endtrans %}", spanish) == "{% trans %}100% sure{% endtrans %}"
    with_variable = localize("{% trans %}{{ brand }}: 100% sure{% endtrans %}", spanish)
    assert with_variable == "{{ brand }}: 100% sure"


@pytest.mark.parametrize("locale", shipped_locales())
def test_localized_shipped_templates_render_exactly_the_same(locale: str) -> None:
    """The text the editor starts from says exactly what the shipped template says."""
    for key, spec in load_message_specs().items():
        for channel in Channel:
            template = renderer.template(key, channel, locale)
            with open(template.filename, encoding="utf-8") as handle:
                source = handle.read()
            localized = localize(source, renderer.translations(locale))
            context = renderer.context(channel, spec.variables)
            # Only plural blocks stay as trans blocks (their form depends on the count at run time).
            for block in re.findall(r"\{%\s*trans.*?endtrans\s*%\}", localized, re.S):
                assert "pluralize" in block, (key, locale, block)
            assert render_body(renderer.environment(locale).from_string(localized), context,
                               channel) == render_body(template, context, channel), (key, channel)
