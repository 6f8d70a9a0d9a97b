"""Compliance keywords: the STOP/START/HELP family, recognized before any flow sees a message.

A keyword is a single word, case-insensitive, punctuation and accents ignored. Each shipped
locale adds its own words; every word is recognized whatever the contact's locale, because a
customer says STOP in the language they think in, not the one we guessed.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class KeywordKind(StrEnum):
    """What a compliance keyword asks for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


# Twilio's default opt-out handling recognizes the English words; the others are our locales'.
KEYWORDS: dict[KeywordKind, dict[str, frozenset[str]]] = {
    KeywordKind.OPT_OUT: {
        "en": frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                         "OPTOUT"}),
        "es": frozenset({"PARAR", "ALTO", "BAJA", "DETENER", "CANCELAR", "DESUSCRIBIR"}),
        "pt_BR": frozenset({"PARAR", "SAIR", "CANCELAR", "DESCADASTRAR", "DESINSCREVER"}),
    },
    KeywordKind.OPT_IN: {
        "en": frozenset({"START", "YES", "UNSTOP"}),
        "es": frozenset({"COMENZAR", "SI", "ALTA", "REANUDAR"}),
        "pt_BR": frozenset({"INICIAR", "SIM", "VOLTAR", "RETOMAR"}),
    },
    KeywordKind.HELP: {
        "en": frozenset({"HELP", "INFO"}),
        "es": frozenset({"AYUDA"}),
        "pt_BR": frozenset({"AJUDA"}),
    },
}

_LOOKUP: dict[str, KeywordKind] = {
    word: kind for kind, by_locale in KEYWORDS.items() for words in by_locale.values()
    for word in words
}
_NOT_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Upper-case, accents removed, punctuation dropped: the form keywords are compared in."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", stripped).strip().upper()


def classify_keyword(text: str) -> KeywordKind | None:
    """The compliance keyword the message is, if it is exactly one such word."""
    folded = fold(text)
    if not folded or " " in folded:
        return None
    return _LOOKUP.get(folded)


def forbidden_reply_words() -> frozenset[str]:
    """Words no message may ask a customer to reply with, because they opt the customer out."""
    return frozenset({"CANCEL", "STOP", "END", "QUIT"})
