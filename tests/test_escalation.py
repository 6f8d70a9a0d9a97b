"""The escalation triggers as pure rules: explicit asks and frustration in every shipped locale,
misunderstandings in a row, detractor answers — and the messages that must not trigger them."""

from __future__ import annotations

import pytest

from bot.escalation import (
    ASK_PHRASES,
    FRUSTRATION_WORDS,
    Reason,
    escalation_for,
    frustration_score,
    is_detractor,
    misunderstood_too_often,
)
from bot.i18n import shipped_locales


def test_every_shipped_locale_has_asks_and_frustration_words() -> None:
    """A locale we ship without its own words would never escalate in its language."""
    for locale in shipped_locales():
        assert ASK_PHRASES.get(locale) and FRUSTRATION_WORDS.get(locale), locale


@pytest.mark.parametrize("text", [
    "talk to a person", "Can I speak to someone?", "AGENT", "human please", "a real person!!",
    "I need a representative", "how do I reach customer service",
    "Quiero hablar con una persona", "¿puedo hablar con alguien?", "necesito un asesor",
    "agente", "HUMANO",
    "Quero falar com um atendente", "falar com alguém", "preciso de atendimento humano",
])
def test_explicit_asks_in_every_locale(text: str) -> None:
    """Asking for a person, in any locale's words, is recognized whatever the accents or case."""
    assert escalation_for(text) is Reason.ASKED


@pytest.mark.parametrize("text", [
    "when will I be charged", "I'm a travel agency owner", "humanity", "personal details",
    "update my card", "hola", "atendimento",
])
def test_ordinary_questions_are_not_asks(text: str) -> None:
    """Words that merely contain an ask word, or questions, are left to the bot."""
    assert escalation_for(text) is not Reason.ASKED


@pytest.mark.parametrize(("text", "score"), [
    ("this is useless", 2),
    ("this is useless!!!", 3),
    ("THIS IS RIDICULOUS", 3),
    ("useless and a total scam", 4),
    ("WHY WAS I CHARGED TWICE???", 2),
    ("why was I charged twice?", 0),
    ("HELLO???", 1),
    ("I doesn't help 😡", 3),
    ("esto es una estafa!!", 3),
    ("ESTOY HARTO DE ESPERAR", 3),
    ("serviço péssimo, que palhaçada", 4),
    ("vocês são inúteis 😡", 3),
    ("OK", 0),
])
def test_frustration_scores(text: str, score: int) -> None:
    """Two points per lexicon word (two at most), one each for shouting, "!!"/"??" and angry
    emoji; short capitals ("OK", "HELLO") are not shouting."""
    assert frustration_score(text) == score


def test_only_strong_frustration_escalates() -> None:
    """A lexicon word with another signal escalates; one signal alone does not."""
    assert escalation_for("THIS IS USELESS") is Reason.FRUSTRATED
    assert escalation_for("this is useless") is None
    assert escalation_for("WHY WAS I CHARGED TWICE???") is None


def test_misunderstandings_and_detractors() -> None:
    """The limit of misses in a row is inclusive; 1 and 2 out of 5 are detractors, 3 is not."""
    assert not misunderstood_too_often(1, 2) and misunderstood_too_often(2, 2)
    assert [is_detractor(score) for score in range(1, 6)] == [True, True, False, False, False]
