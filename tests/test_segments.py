"""SMS segments and encoding, checked against Twilio's message segment calculator's cases."""

from __future__ import annotations

import pytest

from bot.segments import Encoding, normalize_for_sms, sms_cost

DIGITS = "1234567890" * 40


@pytest.mark.parametrize(("body", "encoding", "segments", "units"), [
    # TwilioDevEd/message-segment-calculator tests/index.test.js
    ("{" + DIGITS[1:159], Encoding.GSM7, 1, 160),       # messageSize 1120 bits = 160 septets
    ("{" + DIGITS[1:160], Encoding.GSM7, 2, 161),       # 1127 bits
    ("😜" + DIGITS[1:69], Encoding.UCS2, 1, 70),         # 1120 bits = 70 code units
    ("😜" + DIGITS[1:70], Encoding.UCS2, 2, 71),         # 1136 bits
    # tests/segments.test.js: 307 GSM-7 characters are 153 + 153 + 1
    (DIGITS[:307], Encoding.GSM7, 3, 307),
    # 😜 + 133 characters: 67 + 67 + 1 units, the emoji kept whole
    ("😜" + DIGITS[1:134], Encoding.UCS2, 3, 135),
])
def test_twilio_calculator_cases(body: str, encoding: Encoding, segments: int, units: int) -> None:
    cost = sms_cost(body)
    assert (cost.encoding, cost.segments, cost.units) == (encoding, segments, units)


def test_plain_limits() -> None:
    """160 GSM-7 characters fit one SMS, 161 take two; 70 UCS-2 units fit one, 71 take two."""
    assert sms_cost("a" * 160).segments == 1
    assert sms_cost("a" * 161).segments == 2
    assert sms_cost("a" * 306).segments == 2
    assert sms_cost("ã" * 70).segments == 1
    assert sms_cost("ã" * 71).segments == 2
    assert sms_cost("").segments == 0


def test_extension_pair_is_not_split_across_parts() -> None:
    """A '€' that would straddle the 153rd septet moves whole to the next part."""
    body = "a" * 152 + "€" + "a" * 152
    cost = sms_cost(body)
    assert cost.units == 306
    assert cost.segments == 3  # 152 | € + 151 | 1


def test_one_smart_quote_makes_a_message_ucs2_unless_normalized() -> None:
    """A single ’ turns 150 characters into 3 UCS-2 parts; normalized it is one GSM-7 SMS."""
    text = "It’s due on March 3 — pay here: https://example.com/pay/abc … thanks" + "x" * 80
    assert sms_cost(text).encoding is Encoding.UCS2
    assert sms_cost(text).non_gsm == ("’", "—", "…")
    normalized = normalize_for_sms(text)
    assert normalized.startswith("It's due on March 3 - pay")
    cost = sms_cost(normalized)
    assert (cost.encoding, cost.segments) == (Encoding.GSM7, 1)


def test_accented_letters_are_kept() -> None:
    """Normalization never changes spelling: 'ação' stays UCS-2."""
    assert normalize_for_sms("ação") == "ação"
    assert sms_cost("ação").encoding is Encoding.UCS2
    assert sms_cost("é è ù ì ò à ñ ü Ç").encoding is Encoding.GSM7
