"""Compliance keywords: the STOP/START/HELP family, recognized before any flow sees a message.

A keyword is a single word, case-insensitive, punctuation and accents ignored. Each shipped
locale adds its own words; every word is recognized whatever the contact's locale, because a
customer says STOP in the language they think in, not the one we guessed.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache


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
        "es": frozenset({"PARAR", "ALTO", "BAJA", "DETENER", "CANCELAR", "DESUSCRIBIR",
                         "DESUSCRIBIRME"}),
        "pt_BR": frozenset({"PARAR", "PARE", "SAIR", "CANCELAR", "DESCADASTRAR", "DESINSCREVER"}),
    },
    KeywordKind.OPT_IN: {
        "en": frozenset({"START", "YES", "UNSTOP"}),
        "es": frozenset({"COMENZAR", "EMPEZAR", "SI", "ALTA", "REANUDAR"}),
        "pt_BR": frozenset({"INICIAR", "COMECAR", "SIM", "VOLTAR", "RETOMAR"}),
    },
    KeywordKind.HELP: {
        "en": frozenset({"HELP", "INFO"}),
        "es": frozenset({"AYUDA", "INFORMACION"}),
        "pt_BR": frozenset({"AJUDA", "INFORMACAO"}),
    },
}

# Plain-language revocation, honoured like STOP wherever it appears in a message (folded form).
REVOCATION_PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("STOP TEXTING ME", "STOP MESSAGING ME", "STOP SENDING ME", "STOP CONTACTING ME",
           "NO MORE MESSAGES", "NO MORE TEXTS", "DONT TEXT ME", "DO NOT TEXT ME",
           "DONT MESSAGE ME", "DO NOT MESSAGE ME", "UNSUBSCRIBE ME", "TAKE ME OFF YOUR LIST",
           "REMOVE ME FROM YOUR LIST", "OPT ME OUT"),
    "es": ("DEJA DE ESCRIBIRME", "DEJEN DE ESCRIBIRME", "DEJA DE ENVIARME", "DEJEN DE ENVIARME",
           "DEJA DE MANDARME", "DEJEN DE MANDARME", "NO MAS MENSAJES", "NO ME ESCRIBAN MAS",
           "NO ME ESCRIBAS MAS", "NO ME ENVIEN MAS", "NO QUIERO RECIBIR MAS MENSAJES",
           "NO QUIERO MAS MENSAJES", "DARME DE BAJA", "DAME DE BAJA", "DENME DE BAJA"),
    "pt_BR": ("PARE DE ME MANDAR", "PAREM DE ME MANDAR", "PARE DE ME ENVIAR", "PAREM DE ME ENVIAR",
              "PARE DE MANDAR MENSAGENS", "PAREM DE MANDAR MENSAGENS", "NAO QUERO MAIS MENSAGENS",
              "NAO QUERO RECEBER MAIS MENSAGENS", "CHEGA DE MENSAGENS", "NAO ME MANDE MAIS",
              "NAO ME MANDEM MAIS", "NAO ME ENVIE MAIS", "NAO ME ENVIEM MAIS", "ME DESCADASTRE",
              "QUERO ME DESCADASTRAR"),
}

# Words that may stand around a bare opt-out keyword without changing what it says ("stop
# please", "por favor pare", "STOP STOP"): such a message still means STOP.
_COURTESY_WORDS = frozenset({
    "PLEASE", "PLS", "PLZ", "OK", "NOW", "IT", "THANKS", "THANK", "YOU", "THX", "TY", "POR", "FAVOR",
    "GRACIAS", "YA", "AHORA", "OBRIGADO", "OBRIGADA", "JA", "AGORA",
})
# Opt-out keywords only when alone: with other words ("cancel please", "cancelar ya") they may
# well be about the subscription, which starts the cancel flow instead.
_BARE_ONLY_OPT_OUTS = frozenset({"CANCEL", "CANCELAR"})

# "What did I agree to?" — the customer asks what consent we hold and what we keep about them.
CONSENT_QUESTIONS: dict[str, tuple[str, ...]] = {
    "en": ("WHAT DID I AGREE TO", "WHAT HAVE I AGREED TO", "WHAT DID I CONSENT TO",
           "WHAT HAVE I CONSENTED TO", "MY CONSENT", "WHAT DATA DO YOU HAVE", "MY DATA",
           "WHAT DO YOU KNOW ABOUT ME"),
    "es": ("QUE ACEPTE", "A QUE ACEPTE", "QUE AUTORICE", "A QUE DI MI CONSENTIMIENTO",
           "MI CONSENTIMIENTO", "MIS DATOS", "QUE DATOS TIENEN", "QUE SABEN DE MI"),
    "pt_BR": ("COM O QUE EU CONCORDEI", "COM O QUE CONCORDEI", "O QUE EU ACEITEI", "O QUE ACEITEI",
              "O QUE EU AUTORIZEI", "MEU CONSENTIMENTO", "MEUS DADOS", "QUE DADOS VOCES TEM"),
}

# Words no message may ask a customer to reply with: each opts the customer out, so a customer
# told to reply CANCEL to end a subscription would silently stop all messages instead.
FORBIDDEN_REPLY_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"CANCEL", "STOP", "END", "QUIT"}),
    "es": frozenset({"CANCELAR", "PARAR", "DETENER"}),
    "pt_BR": frozenset({"CANCELAR", "PARAR", "PARE", "SAIR"}),
}
# Verbs that ask for a reply ("Reply STOP", "Responde CANCELAR", "Envie SAIR"), and the words
# that may stand between the verb and the keyword ("reply with the word STOP").
_REPLY_VERBS = frozenset({
    "REPLY", "RESPOND", "ANSWER", "RESPONDE", "RESPONDA", "RESPONDAN", "RESPONDER", "CONTESTA",
    "CONTESTE", "CONTESTAR",
})
_SEND_VERBS = frozenset({
    "TEXT", "SEND", "TYPE", "WRITE", "MESSAGE", "ENVIA", "ENVIE", "ENVIEN", "ENVIAR", "ESCRIBE",
    "ESCRIBA", "ESCRIBIR", "MANDA", "MANDE", "MANDAR", "ESCREVA", "ESCREVER", "DIGITE", "DIGITAR",
})
_QUOTES = frozenset("'\"‘’“”«")
_REPLY_FILLERS = frozenset({
    "WITH", "BACK", "US", "THE", "WORD", "KEYWORD", "JUST", "CON", "LA", "PALABRA", "COM", "A",
    "PALAVRA", "NOS", "SOLO", "APENAS",
})
_ALTERNATIVES = frozenset({"OR", "O", "OU"})
_SENTENCE_END = re.compile(r"[.!?;\n]")

_LOOKUP: dict[str, KeywordKind] = {
    word: kind for kind, by_locale in KEYWORDS.items() for words in by_locale.values()
    for word in words
}
_NOT_WORD = re.compile(r"[^\w]+")


@lru_cache(maxsize=16384)
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


def _contains_phrase(text: str, phrases: dict[str, tuple[str, ...]]) -> bool:
    # "don't" and "don’t" fold to DONT, not DON T.
    padded = " " + fold(text.replace("'", "").replace("\u2019", "")) + " "
    return any(f" {phrase} " in padded for by_locale in phrases.values() for phrase in by_locale)


def is_revocation(text: str) -> bool:
    """Whether the message withdraws consent in plain words ("stop texting me", "no más
    mensajes", "não quero mais mensagens"), in any shipped language, or says nothing but an
    opt-out keyword in more than one word ("opt out", "Opt-out", "stop please")."""
    return _contains_phrase(text, REVOCATION_PHRASES) or _says_only_opt_out(fold(text))


def _says_only_opt_out(folded: str) -> bool:
    """Whether a message of several words is an opt-out keyword spelled apart ("OPT OUT", "STOP
    ALL") or opt-out keywords among courtesy words ("STOP PLEASE"). A single word is left to
    ``classify_keyword``."""
    words = folded.split()
    core = [word for word in words if word not in _COURTESY_WORDS]
    if len(words) < 2 or not core:
        return False
    return _opts_out("".join(core)) or all(_opts_out(word) for word in core)


def _opts_out(word: str) -> bool:
    return _LOOKUP.get(word) is KeywordKind.OPT_OUT and word not in _BARE_ONLY_OPT_OUTS


def asks_about_consent(text: str) -> bool:
    """Whether the message asks what the customer agreed to or what we keep about them."""
    return _contains_phrase(text, CONSENT_QUESTIONS)


def forbidden_reply_words() -> frozenset[str]:
    """Words no message may ask a customer to reply with, because they opt the customer out."""
    return frozenset().union(*FORBIDDEN_REPLY_WORDS.values())


def forbidden_reply_instructions(text: str) -> list[str]:
    """Every place ``text`` asks the customer to reply with an opt-out word (CANCEL, STOP, END,
    QUIT and their localized twins), e.g. ``["Reply CANCEL"]``; empty when there is none.

    A keyword counts when it follows a reply verb, possibly after a few filler words ("reply
    with the word STOP") or as an alternative ("reply YES or STOP"). After a verb that also has
    a plain meaning ("send", "text", "envie") it counts only when written as a keyword — in
    capitals or in quotes — so "we send end-of-month statements" is prose. Template text is
    jinja: ``{{ … }}`` and ``{% … %}`` parts are ignored.
    """
    plain = re.sub(r"{[{%#].*?[}%#]}", " ", text, flags=re.DOTALL)
    matches = list(re.finditer(r"[^\W_]+", plain))
    folded = [fold(match.group()) for match in matches]
    forbidden = forbidden_reply_words()
    findings = []
    for start, verb in enumerate(folded):
        if verb not in _REPLY_VERBS and verb not in _SEND_VERBS:
            continue
        index = start + 1
        while index < len(folded) and folded[index] in _REPLY_FILLERS:
            index += 1
        while index < len(folded):
            word = matches[index]
            if _SENTENCE_END.search(plain[matches[index - 1].end():word.start()]):
                break  # "Don't reply. End of story." — the next sentence is not the reply
            as_keyword = (verb in _REPLY_VERBS or word.group().isupper()
                          or plain[word.start() - 1:word.start()] in _QUOTES)
            if folded[index] in forbidden and as_keyword:
                findings.append(plain[matches[start].start():word.end()])
                break
            if index + 1 < len(folded) and folded[index + 1] in _ALTERNATIVES:
                index += 2  # "YES or STOP": look at the alternative too
                continue
            break
    return findings
