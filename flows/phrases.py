"""Phrases the flows recognize, in every shipped language: those that start pausing and
cancelling, the reasons a customer gives for cancelling in their own words, changing one's mind,
and "I already paid" while a payment is due.

Matched on the normalized text (lower case, no accents or punctuation). The starting phrases
always name the subscription: a bare "cancel" or "baja" is an opt-out keyword and never reaches
them, and "stop texting me" is about messages, not the subscription. Every language's phrases
are tried whatever the contact's locale, as customers write in the language they think in.
"""

from __future__ import annotations

import re

from bot.faq import normalize
from bot.retention import Reason

_SUBSCRIPTION_EN = r"(?:my |the |our |this )?(?:subscription|plan|membership|account|service)"
_SUBSCRIPTION_ES = r"(?:mi |la |el |esta |este )?(?:suscripcion|subscripcion|plan|membresia|cuenta|servicio)"
_SUBSCRIPTION_PT = r"(?:a |o |minha |meu |essa |esse )?(?:assinatura|plano|conta|servico)"


def _compile(*patterns: str) -> re.Pattern[str]:
    """One pattern matching any of ``patterns`` as whole words."""
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


CANCEL_PHRASES = _compile(
    # en
    rf"cancel(?:l?ing)? {_SUBSCRIPTION_EN}", r"(?:want|like|need|going) to cancel",
    rf"unsubscribe (?:me )?from {_SUBSCRIPTION_EN}", rf"(?:end|stop|terminate|close) {_SUBSCRIPTION_EN}",
    # es
    rf"cancelar {_SUBSCRIPTION_ES}", r"(?:quiero|quisiera|necesito|deseo) cancelar",
    rf"(?:dar|darme|darse) de baja (?:de |del |en )?{_SUBSCRIPTION_ES}",
    rf"(?:anular|terminar|finalizar) {_SUBSCRIPTION_ES}",
    # pt_BR
    rf"cancelar {_SUBSCRIPTION_PT}", r"(?:quero|gostaria de|preciso) cancelar",
    rf"(?:encerrar|terminar) {_SUBSCRIPTION_PT}", rf"(?:sair|descadastrar) (?:do|da|de) {_SUBSCRIPTION_PT}",
)
PAUSE_PHRASES = _compile(
    # en
    r"^pause$", rf"pause {_SUBSCRIPTION_EN}", r"pause (?:it|for a while|for a month)",
    r"(?:want|like|need|going) to pause",
    r"(?:take|need|taking) a break", r"skip (?:a|the next|next|this) month",
    rf"put {_SUBSCRIPTION_EN} on hold",
    # es
    r"^pausa(?:r)?$", rf"paus(?:ar|a|o) {_SUBSCRIPTION_ES}", r"(?:quiero|quisiera|puedo) pausar",
    r"saltar(?:me)? un mes",
    # pt_BR
    r"^pausar$", rf"paus(?:ar|a|o) {_SUBSCRIPTION_PT}", r"(?:quero|gostaria de|posso) pausar",
    r"pular um mes",
)
RESUME_PHRASES = _compile(
    # en
    r"^(?:resume|unpause)$", rf"(?:resume|unpause|reactivate|restart) {_SUBSCRIPTION_EN}",
    # es
    rf"(?:reanudar|reactivar|despausar) {_SUBSCRIPTION_ES}",
    # pt_BR
    rf"(?:retomar|reativar|despausar) {_SUBSCRIPTION_PT}",
)


CANCEL_REASON_PHRASES = {
    Reason.PRICE: _compile(
        r"(?:too|so|very|quite) expensive", r"expensive", r"(?:the )?(?:price|cost)s?",
        r"(?:can t|cannot|can not) afford", r"too much money",
        r"caro", r"precio", r"no (?:me )?alcanza", r"preco", r"nao (?:consigo|posso) pagar"),
    Reason.NOT_USING: _compile(
        r"(?:not|never|don t|do not|didn t|barely|rarely|hardly|stopped) us(?:e|ing)",
        r"no (?:longer )?need it", r"don t need it",
        r"no (?:lo )?(?:uso|utilizo|necesito)", r"casi no (?:lo )?uso",
        r"nao (?:o )?(?:uso|utilizo|preciso)", r"quase nao uso"),
    Reason.MISSING_FEATURE: _compile(
        r"features?", r"missing", r"doesn t (?:have|do|support)", r"lacks?",
        r"funci(?:on|ones|onalidad|onalidades)", r"le falta", r"funcionalidades?", r"recursos?",
        r"falta um"),
    Reason.SWITCHING: _compile(
        r"switch(?:ing)? to", r"(?:another|a different|other) (?:tool|app|service|provider|company)",
        r"competitor", r"(?:cambio|cambiar|cambiarme|pasarme) (?:a|de)",
        r"otr[oa] (?:herramienta|app|aplicacion|empresa|servicio|proveedor)",
        r"(?:mudar|trocar) (?:para|de)", r"outr[oa] (?:ferramenta|empresa|app|aplicativo|servico)"),
}


def reason_named(text: str) -> str | None:
    """The cancel reason a message gives in the customer's words ("it's too expensive" →
    price), when it names exactly one; None for none or several (then they pick from the list)."""
    words = normalize(text)
    named = [reason for reason, phrases in CANCEL_REASON_PHRASES.items() if phrases.search(words)]
    return named[0] if len(named) == 1 else None



def _not(verb_en: str, verb_es: str, verb_pt: str) -> tuple[str, ...]:
    """Phrases saying not to do it: "don't cancel", "no quiero cancelar", "não vou cancelar"."""
    return (rf"(?:don t|do not|no need to)(?: want to| need to)? {verb_en}",
            rf"no (?:quiero |voy a )?{verb_es}", rf"nao (?:quero |vou )?{verb_pt}")


_NOT_CANCEL = _not("cancel", "cancelar", "cancelar")
_NOT_PAUSE = _not("pause", "pausar", "pausar")
NOT_CANCEL_PHRASES = _compile(*_NOT_CANCEL)
NOT_PAUSE_PHRASES = _compile(*_NOT_PAUSE)
BACK_OUT_PHRASES = _compile(
    # en
    r"never ?mind", r"forget (?:it|about it)", r"changed my mind",
    r"keep (?:it|my (?:subscription|plan|membership))", r"i ll stay", r"i will stay",
    # es
    r"olvidal[oa]", r"dejal[oa]", r"cambie de (?:opinion|idea)", r"mejor no",
    # pt_BR
    r"esquece", r"deixa (?:pra|para) la", r"mudei de ideia", r"melhor nao",
    *_NOT_CANCEL, *_NOT_PAUSE,
)
"""The customer changed their mind half-way through pausing or cancelling."""
ALREADY_PAID_PHRASES = _compile(
    # en
    r"(?:already|just) paid", r"i (?:ve |have )?paid", r"i did pay", r"paid (?:it|already|that)",
    r"(?:made|sent|did) the payment", r"payment (?:went through|is done|was made)",
    # es
    r"ya (?:lo |la )?pague", r"pague ya", r"ya (?:hice|realice|efectue) el pago",
    r"ya esta pagad[oa]",
    # pt_BR
    r"(?:ja )?paguei", r"ja (?:fiz|efetuei|realizei) o pagamento", r"ja esta pag[oa]",
)
"""The customer says the payment is made ("I already paid", "ya pagué", "já paguei")."""


def matches(phrases: re.Pattern[str], text: str) -> bool:
    """Whether the message says one of ``phrases``."""
    return phrases.search(normalize(text)) is not None
