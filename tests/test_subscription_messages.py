"""The subscription flows' messages in every shipped locale: translated, every dunning SMS with
its link and real opt-out words, no reply word that would opt someone out by mistake, and
within its segment budget."""

from __future__ import annotations

import re

import pytest

from bot.i18n import shipped_locales
from bot.keywords import KeywordKind, classify_keyword, forbidden_reply_words
from bot.message_specs import load_message_specs
from bot.messages import Channel, Say
from bot.render import Renderer
from bot.segments import sms_cost

SPECS = load_message_specs()
FLOWS = ("dunning", "pause", "cancel", "subscription")
OURS = sorted(key for key in SPECS if key.split(".")[0] in FLOWS)
PROACTIVE = sorted(key for key in OURS if SPECS[key].proactive)
renderer = Renderer(shipped_locales(), "en")


def _sms(key: str, locale: str) -> str:
    return renderer.render(Say(key, dict(SPECS[key].variables)), Channel.SMS, locale).body


def test_every_dunning_message_is_declared_with_its_link() -> None:
    """Each dunning message must include the payment link; the ones we start are proactive."""
    dunning = [key for key in OURS if key.startswith("dunning.")]
    assert len(dunning) == 8
    assert all(SPECS[key].must_include == ("pay_url",) for key in dunning)
    assert {key for key in dunning if SPECS[key].proactive} == {
        "dunning.first_notice", "dunning.reminder", "dunning.courtesy", "dunning.discount_offer",
        "dunning.paid"}


@pytest.mark.parametrize("locale", shipped_locales())
@pytest.mark.parametrize("key", OURS)
def test_declared_values_show_and_the_budget_holds(key: str, locale: str) -> None:
    """What a message must include is in it, and on SMS it fits its segment budget."""
    spec = SPECS[key]
    body = _sms(key, locale)
    for name in spec.must_include:
        assert str(spec.variables[name]) in body, (key, locale)
    if spec.max_segments is not None:
        assert sms_cost(body).segments <= spec.max_segments, (key, locale, sms_cost(body))


@pytest.mark.parametrize("locale", shipped_locales())
@pytest.mark.parametrize("key", sorted({*PROACTIVE, *(k for k in OURS if k.startswith("dunning."))}))
def test_proactive_and_dunning_messages_say_how_to_opt_out(key: str, locale: str) -> None:
    """Every message we start, and every dunning message, tells the customer a word that
    really opts them out."""
    body = _sms(key, locale)
    words = [w for w in re.findall(r"\b[A-Z]{3,}\b", body) if w != "US"]
    assert any(classify_keyword(word) is KeywordKind.OPT_OUT for word in words), (key, locale)


@pytest.mark.parametrize("locale", shipped_locales())
@pytest.mark.parametrize("key", OURS)
def test_no_message_asks_for_a_word_that_opts_out_by_mistake(key: str, locale: str) -> None:
    """No message asks a customer to reply CANCEL, STOP, END or QUIT."""
    for channel in Channel:
        body = renderer.render(Say(key, dict(SPECS[key].variables)), channel, locale).body
        assert not set(re.findall(r"\b[A-Z]+\b", body)) & forbidden_reply_words(), (key, locale)


@pytest.mark.parametrize("locale", [locale for locale in shipped_locales() if locale != "en"])
@pytest.mark.parametrize("key", OURS)
def test_every_message_is_translated(key: str, locale: str) -> None:
    """Spanish and Brazilian Portuguese customers read their own language."""
    assert _sms(key, locale) != _sms(key, "en"), (key, locale)


def test_dunning_sms_stay_in_gsm7_in_every_locale() -> None:
    """Dunning messages cost the least they can: no character forces UCS-2."""
    for key in (key for key in OURS if key.startswith("dunning.")):
        for locale in shipped_locales():
            assert sms_cost(_sms(key, locale)).encoding == "GSM-7", (key, locale)
