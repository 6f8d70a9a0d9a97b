"""Phrases that start the subscription flows, in every shipped language.

Matched on the normalized text (lower case, no accents or punctuation). They always name the
subscription: a bare "cancel" or "baja" is an opt-out keyword and never reaches them, and
"stop texting me" is about messages, not the subscription. Every language's phrases are
tried whatever the contact's locale, as customers write in the language they think in.
"""

from __future__ import annotations

import re

from bot.faq import normalize

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


def matches(phrases: re.Pattern[str], text: str) -> bool:
    """Whether the message says one of ``phrases``."""
    return phrases.search(normalize(text)) is not None
