"""Compliance words: localized keyword lists, plain-language revocation, the consent question,
and the check that no message asks a customer to reply with an opt-out word."""

from __future__ import annotations

import pytest

from bot.i18n import shipped_locales
from bot.keywords import (
    KEYWORDS,
    REVOCATION_PHRASES,
    KeywordKind,
    asks_about_consent,
    classify_keyword,
    forbidden_reply_instructions,
    forbidden_reply_words,
    is_revocation,
)
from bot.message_specs import load_message_specs
from bot.messages import Channel, Say
from bot.render import Renderer


def test_every_shipped_locale_has_every_keyword_kind_and_phrases() -> None:
    """Each shipped locale can opt out, opt in, ask for help and revoke in plain words."""
    for locale in shipped_locales():
        for kind in KeywordKind:
            assert KEYWORDS[kind].get(locale), (kind, locale)
        assert REVOCATION_PHRASES.get(locale), locale


def test_no_word_means_two_things() -> None:
    """A word is an opt-out, an opt-in or a help request in every language, never two of them."""
    seen: dict[str, KeywordKind] = {}
    for kind, by_locale in KEYWORDS.items():
        for words in by_locale.values():
            for word in words:
                assert seen.setdefault(word, kind) is kind, word


@pytest.mark.parametrize(("text", "kind"), [
    ("PARE", KeywordKind.OPT_OUT), ("desuscribirme", KeywordKind.OPT_OUT),
    ("Começar", KeywordKind.OPT_IN), ("empezar", KeywordKind.OPT_IN),
    ("información", KeywordKind.HELP), ("Informação", KeywordKind.HELP),
    ("REVOKE", KeywordKind.OPT_OUT), ("optout", KeywordKind.OPT_OUT),
])
def test_localized_keywords(text: str, kind: KeywordKind) -> None:
    """The reviewed localized words are recognized, accents and case ignored."""
    assert classify_keyword(text) is kind


@pytest.mark.parametrize("text", [
    "Please stop texting me!", "no more messages", "Don't text me again", "unsubscribe me please",
    "Dejen de escribirme", "no más mensajes, gracias", "quiero darme de baja",
    "Não quero mais mensagens", "parem de me mandar mensagens", "chega de mensagens",
])
def test_plain_language_revocation(text: str) -> None:
    """Sentences that withdraw consent are recognized in every shipped language."""
    assert is_revocation(text)


@pytest.mark.parametrize("text", [
    "stop", "cancel my subscription", "how do I stop my subscription?", "stop the payment",
    "I want more messages", "please send me more messages",
])
def test_other_sentences_are_not_revocation(text: str) -> None:
    """A bare keyword is the keyword path's business; other sentences mentioning stop are not
    revocations."""
    assert not is_revocation(text)


@pytest.mark.parametrize(("text", "asks"), [
    ("What did I agree to?", True), ("what data do you have on me", True),
    ("¿A qué acepté?", True), ("quiero ver mis datos", True), ("Com o que eu concordei?", True),
    ("what is my billing date", False), ("I agree", False),
])
def test_consent_question(text: str, asks: bool) -> None:
    """'What did I agree to?' and its translations are recognized."""
    assert asks_about_consent(text) is asks


@pytest.mark.parametrize(("text", "found"), [
    ("Reply CANCEL to end your subscription.", ["Reply CANCEL"]),
    ("To pause, reply with the word STOP", ["reply with the word STOP"]),
    ("Text END to 12345", ["Text END"]),
    ("Reply YES or STOP", ["Reply YES or STOP"]),
    ("Reply 'stop' anytime", ["Reply 'stop"]),
    ("Responde CANCELAR para terminar", ["Responde CANCELAR"]),
    ("Responda PARAR", ["Responda PARAR"]),
    ("Reply UNSUBSCRIBE to stop messages.", []),
    ("We send end-of-month statements.", []),
    ("{{ brand }}: reply {{ keyword }} to stop", []),
    ("Stop by our store", []),
])
def test_forbidden_reply_instructions(text: str, found: list[str]) -> None:
    """Asking for CANCEL/STOP/END/QUIT (or a localized twin) as a reply is found; prose is not."""
    assert forbidden_reply_instructions(text) == found


def test_forbidden_words_cover_the_english_four() -> None:
    """The four English words are always forbidden, with their localized twins."""
    assert {"CANCEL", "STOP", "END", "QUIT", "CANCELAR"} <= forbidden_reply_words()


@pytest.mark.parametrize("locale", shipped_locales())
def test_no_shipped_message_asks_for_an_opt_out_word(locale: str) -> None:
    """Every declared message, rendered in every locale and channel, passes the check."""
    renderer = Renderer(shipped_locales(), "en")
    for key, spec in load_message_specs().items():
        for channel in Channel:
            body = renderer.render(Say(key, dict(spec.variables)), channel, locale).body
            assert forbidden_reply_instructions(body) == [], (key, channel)


@pytest.mark.parametrize("text", [
    "opt out", "Opt-out", "OPT-OUT please", "stop all", "Stop please", "please stop!",
    "STOP STOP STOP", "Stop it!", "ok stop", "stop, thank you", "pare por favor", "Baja ya",
])
def test_an_opt_out_word_spelled_apart_or_with_courtesy_words_is_a_revocation(text: str) -> None:
    """A message that says nothing but an opt-out keyword, in several words, withdraws consent."""
    assert is_revocation(text)
