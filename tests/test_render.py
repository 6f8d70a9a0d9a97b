"""Rendering: templates per locale and channel, babel formatting, WhatsApp's button limits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.i18n import best_locale, format_day, format_money
from bot.messages import Channel, Choice, Say
from bot.render import LIST_BUTTON, MAX_BUTTON_TITLE, Picker, Renderer, RenderError, whatsapp_picker

renderer = Renderer(["en", "es", "pt_BR"], "en")
TWO = [Choice("faq:pick:a", "Billing date"), Choice("handoff:request", "Talk to a person")]


def test_whatsapp_gets_buttons_sms_gets_a_numbered_menu() -> None:
    """The same choices are buttons on WhatsApp and numbered lines on SMS."""
    whatsapp = renderer.render(Say("faq.greeting", {}, TWO), Channel.WHATSAPP, "en")
    sms = renderer.render(Say("faq.greeting", {}, TWO), Channel.SMS, "en")
    assert whatsapp.buttons and "1." not in whatsapp.body
    assert not sms.buttons
    assert sms.body.endswith("Reply with a number:\n1. Billing date\n2. Talk to a person")
    assert [c.payload for c in sms.choices] == [c.payload for c in whatsapp.choices]


def test_channel_variant_is_preferred() -> None:
    """An SMS variant of a template replaces the default text on SMS only."""
    sms = renderer.render(Say("faq.greeting"), Channel.SMS, "en").body
    whatsapp = renderer.render(Say("faq.greeting"), Channel.WHATSAPP, "en").body
    assert "Ask a question or pick a topic" in sms
    assert "Ask me anything about your subscription" in whatsapp


@pytest.mark.parametrize(("count", "length", "picker"), [
    (1, 20, Picker.BUTTONS), (3, 20, Picker.BUTTONS), (4, 20, Picker.LIST), (3, 21, Picker.LIST),
    (10, 24, Picker.LIST), (11, 1, Picker.MENU), (1, 25, Picker.MENU), (10, 25, Picker.MENU)])
def test_whatsapp_picker_limits(count: int, length: int, picker: Picker) -> None:
    """Buttons: 3 of at most 20 characters; a list: 10 rows of at most 24; else a menu."""
    titles = ["x" * (length - 1)] * (count - 1) + ["x" * length]
    assert whatsapp_picker(titles) is picker


def test_four_to_ten_choices_are_a_list_on_whatsapp() -> None:
    """Beyond 3 buttons WhatsApp shows a list behind one translated button, not a menu."""
    four = [Choice(f"faq:pick:{n}", f"Topic {n}") for n in range(4)]
    for locale, label in (("en", "Choose an option"), ("es", "Elige una opción"),
                          ("pt_BR", "Escolha uma opção")):
        rendered = renderer.render(Say("faq.greeting", {}, four), Channel.WHATSAPP, locale)
        assert rendered.buttons and rendered.list_button == label
        assert "1." not in rendered.body and rendered.choices[3].payload == "faq:pick:3"
    sms = renderer.render(Say("faq.greeting", {}, four), Channel.SMS, "en")
    assert sms.list_button is None and "4. Topic 3" in sms.body


def test_the_list_button_label_fits_whatsapp_in_every_locale() -> None:
    """The button opening a list allows 20 characters; every shipped translation fits."""
    for locale in renderer.locales:
        assert 0 < len(renderer.translate(LIST_BUTTON, locale)) <= MAX_BUTTON_TITLE, locale


def test_eleven_choices_or_very_long_titles_fall_back_to_a_menu_on_whatsapp() -> None:
    """Beyond what a list takes the numbered menu is used, as on SMS."""
    eleven = [Choice(f"faq:pick:{n}", f"Topic {n}") for n in range(11)]
    long = [Choice("faq:pick:x", "A title far longer than a list row")]
    for choices in (eleven, long):
        rendered = renderer.render(Say("faq.greeting", {}, choices), Channel.WHATSAPP, "en")
        assert not rendered.buttons and rendered.list_button is None
        assert "Reply with a number:" in rendered.body


@pytest.mark.parametrize(("locale", "text"), [
    ("en", "Main menu"), ("es", "Menú principal"), ("pt_BR", "Menu principal")])
def test_choice_labels_are_translated(locale: str, text: str) -> None:
    """Labels marked in flows are translated when rendered."""
    rendered = renderer.render(Say("common.did_not_understand", {},
                                   [Choice("faq:greet", "Main menu")]), Channel.WHATSAPP, locale)
    assert rendered.choices[0].title == text


def test_unknown_locale_falls_back_to_default() -> None:
    """A locale we do not ship renders in the default one."""
    assert renderer.render(Say("faq.greeting"), Channel.SMS, "de").body.startswith("Hi!")


def test_missing_template_and_missing_variable_are_errors() -> None:
    """A template that does not exist, or one missing its variables, is a RenderError."""
    with pytest.raises(RenderError, match=r"nope\.nothing"):
        renderer.render(Say("nope.nothing"), Channel.SMS, "en")
    with pytest.raises(RenderError, match=r"faq\.answer"):
        renderer.render(Say("faq.answer"), Channel.SMS, "en")


@pytest.mark.parametrize(("locale", "money", "day"), [
    ("en", "$19.00", "March 8, 2026"),
    ("es", "19,00\xa0US$", "8 de marzo de 2026"),
    ("pt_BR", "US$\xa019,00", "8 de março de 2026"),
])
def test_money_and_dates_follow_the_locale(locale: str, money: str, day: str) -> None:
    """Babel formats amounts and dates the way the contact reads them."""
    assert format_money(Decimal("19.00"), "usd", locale) == money
    assert format_day(date(2026, 3, 8), locale) == day


def test_locale_choice() -> None:
    """The contact's own locale wins, then the number's region, then the default."""
    assert best_locale("pt-BR", "US", "en") == "pt_BR"
    assert best_locale("es_MX", None, "en") == "es"
    assert best_locale(None, "BR", "en") == "pt_BR"
    assert best_locale(None, "AR", "en") == "es"
    assert best_locale(None, "DE", "en") == "en"
    assert best_locale("fr", "FR", "en") == "en"


def test_sms_text_is_normalized_to_gsm7() -> None:
    """Typographic quotes in a template become plain ones on SMS, and stay on WhatsApp."""
    say = Say("faq.answer", {"answer": "It’s billed on the 3rd — see “Account”."})
    assert renderer.render(say, Channel.SMS, "en").body == "It's billed on the 3rd - see \"Account\"."
    assert "’" in renderer.render(say, Channel.WHATSAPP, "en").body
