"""When the bot should step aside for a person: the triggers, as pure functions of the text.

- an explicit ask ("talk to a person", "agent", "hablar con una persona", "atendente"…),
- strong frustration: a small lexicon per locale plus signals (shouting in capitals, repeated
  "!!"/"??", angry emoji) — one lexicon word and one more signal, or two lexicon words,
- the bot failing to understand several messages in a row (``conversation.misunderstood``),
- a detractor answer to the satisfaction question (1 or 2 out of 5),
- a flow's own route (``handoff:request:<reason>`` as a choice, or ``request_handoff``).

Every locale's words are recognized whatever the contact's locale, as with STOP: a customer
asks for a person in the language they think in.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.keywords import fold


class Reason(StrEnum):
    """Why a conversation went to a person (shown to agents, used in reports)."""

    ASKED = "asked"
    FRUSTRATED = "frustrated"
    NOT_UNDERSTOOD = "not_understood"
    DETRACTOR = "detractor"


ASK_PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("talk to a person", "speak to a person", "talk to someone", "speak to someone",
           "talk to a human", "speak to a human", "real person", "live person", "live agent",
           "agent", "agents", "human", "humans", "representative", "customer service",
           "someone from your team", "a person please"),
    "es": ("hablar con una persona", "hablar con alguien", "hablar con un humano",
           "persona real", "agente", "agentes", "humano", "humana", "asesor", "asesora",
           "representante", "atencion al cliente", "operador", "operadora"),
    "pt_BR": ("falar com uma pessoa", "falar com alguem", "falar com um humano", "pessoa real",
              "atendente", "atendimento humano", "agente", "humano", "humana", "operador",
              "operadora", "representante"),
}

FRUSTRATION_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("useless", "ridiculous", "terrible", "awful", "worst", "pathetic", "scam", "fraud",
           "rip off", "ripoff", "fed up", "sick of", "furious", "angry", "unacceptable",
           "disgusting", "stupid", "annoying", "wtf", "not helpful", "doesnt help"),
    "es": ("inutil", "inutiles", "ridiculo", "ridicula", "pesimo", "pesima", "horrible", "estafa", "fraude",
           "harto", "harta", "furioso", "furiosa", "enojado", "enojada", "inaceptable",
           "vergonzoso", "una verguenza", "no sirve", "no ayuda", "estupido"),
    "pt_BR": ("inutil", "inuteis", "ridiculo", "ridicula", "pessimo", "pessima", "horrivel", "golpe",
              "fraude", "absurdo", "palhacada", "saco cheio", "cansado disso", "cansada disso",
              "raiva", "furioso", "furiosa", "inaceitavel", "vergonha", "nao serve",
              "nao ajuda", "estupido"),
}

ANGRY_EMOJI = frozenset("😡😠🤬👿💢")
STRONG_FRUSTRATION = 3
"""Score at which frustration hands over: a lexicon word (2) and one more signal (1)."""
MIN_SHOUTED_LETTERS = 8
"""Fewer capital letters than this ("OK", "HI") is not shouting."""
DETRACTOR_MAX = 2
"""Satisfaction answers at or below this (of 5) hand over to a person."""

_REPEATED_PUNCTUATION = re.compile(r"[!?¡¿]{2,}")


def _matcher(by_locale: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    """One pattern for every locale's phrases, matching whole words of folded text."""
    phrases = sorted({fold(p) for phrases in by_locale.values() for p in phrases}, key=len,
                     reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")


_ASKS = _matcher(ASK_PHRASES)
_FRUSTRATIONS = _matcher(FRUSTRATION_WORDS)


def _folded(text: str) -> str:
    # Apostrophes vanish rather than split words, so "doesn't" reads as "doesnt".
    return fold(text.replace("'", "").replace("’", ""))


def frustration_score(text: str, folded: str | None = None) -> int:
    """How strongly the message signals frustration: 2 per lexicon word (at most two count),
    1 for shouting, 1 for repeated punctuation, 1 for angry emoji."""
    words = set(_FRUSTRATIONS.findall(_folded(text) if folded is None else folded))
    score = 2 * min(2, len(words))
    capitals = sum(map(str.isupper, text))
    if capitals >= MIN_SHOUTED_LETTERS and capitals >= 0.7 * sum(map(str.isalpha, text)):
        score += 1
    if _REPEATED_PUNCTUATION.search(text):
        score += 1
    if any(ch in ANGRY_EMOJI for ch in text):
        score += 1
    return score


def escalation_for(text: str) -> Reason | None:
    """The reason a customer's own words hand the conversation to a person, if any."""
    folded = _folded(text)
    if _ASKS.search(folded):
        return Reason.ASKED
    if frustration_score(text, folded) >= STRONG_FRUSTRATION:
        return Reason.FRUSTRATED
    return None


def misunderstood_too_often(misunderstood: int, limit: int) -> bool:
    """Whether the bot has failed to understand enough messages in a row to give up."""
    return misunderstood >= limit


def is_detractor(score: int) -> bool:
    """Whether a 1–5 satisfaction answer says the customer was let down."""
    return score <= DETRACTOR_MAX
