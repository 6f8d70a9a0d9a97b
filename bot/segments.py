"""SMS encoding and segments: how many parts a text costs, and keeping it in GSM-7 when the
only obstacle is typography.

GSM-7 packs 160 septets in one SMS, 153 per part once split (the rest is the concatenation
header); characters from the extension table (``€ [ ] { } ~ ^ | \\`` and form feed) cost two
septets. Any character outside GSM-7 turns the whole message UCS-2: 70 code units in one SMS,
67 per part, and an emoji is two units that are never split across parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Typography that has a GSM-7 equivalent with the same meaning. Accented letters are not here:
# "ação" is not "acao".
SMART_PUNCTUATION = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
    "\u00bb": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\u2022": "-", "\u2026": "...", "\u00a0": " ", "\u2002": " ",
    "\u2003": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ", "\u200b": "", "\u2060": "",
    "\ufeff": "", "\u2028": "\n", "\u2029": "\n", "\u02bc": "'", "\uff01": "!", "\uff1f": "?",
})


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


LIMITS = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}
"""Units in a single-part message, and per part of a multi-part one."""


@dataclass(frozen=True)
class SmsCost:
    """What a text costs as an SMS."""

    encoding: Encoding
    segments: int
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    non_gsm: tuple[str, ...]
    """The characters that force UCS-2, in order of first appearance."""


def normalize_for_sms(text: str) -> str:
    """Replace smart quotes, dashes, ellipses and odd spaces with their GSM-7 twins."""
    return text.translate(SMART_PUNCTUATION)


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    if encoding is Encoding.GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_cost(text: str) -> SmsCost:
    """Encoding, segment count and size of ``text`` sent as is."""
    non_gsm = tuple(dict.fromkeys(
        ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))
    encoding = Encoding.UCS2 if non_gsm else Encoding.GSM7
    costs = _unit_costs(text, encoding)
    units = sum(costs)
    single, per_part = LIMITS[encoding]
    if units <= single:
        return SmsCost(encoding, 1 if text else 0, units, non_gsm)
    # Fill parts character by character: an escape pair or a surrogate pair never straddles two.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            segments, used = segments + 1, 0
        used += cost
    return SmsCost(encoding, segments, units, non_gsm)
