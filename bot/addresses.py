"""Phone numbers and channel addresses: parsing, E.164 normalization and what a number tells us."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as number_timezones

from bot.messages import Channel

WHATSAPP_PREFIX = "whatsapp:"


class InvalidAddress(ValueError):
    """The text is not a usable phone number."""


def split_channel_address(raw: str) -> tuple[Channel, str]:
    """Split a Twilio ``From``/``To`` value into channel and E.164 number."""
    raw = raw.strip()
    if raw.lower().startswith(WHATSAPP_PREFIX):
        return Channel.WHATSAPP, normalize_e164(raw[len(WHATSAPP_PREFIX):])
    return Channel.SMS, normalize_e164(raw)


def to_channel_address(channel: Channel, number: str) -> str:
    """The address Twilio expects for a number on a channel."""
    return f"{WHATSAPP_PREFIX}{number}" if channel is Channel.WHATSAPP else number


@lru_cache(maxsize=65536)
def normalize_e164(raw: str) -> str:
    """Return the number in E.164, or raise InvalidAddress with a readable reason."""
    text = raw.strip()
    if not text.startswith("+"):
        raise InvalidAddress(f"{text[:20]!r} is not in international format (+country number)")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidAddress(f"not a phone number: {error}") from None
    number = _without_mexicos_old_mobile_prefix(number)
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _without_mexicos_old_mobile_prefix(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """Mexico dropped the "1" before mobile numbers in 2019, but WhatsApp (and so Twilio's
    ``From``) still writes them with it (+52 1 55 1234 5678): the same person as +52 55 1234 5678,
    which is also where replies reach them."""
    national = str(number.national_number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        return phonenumbers.PhoneNumber(country_code=52, national_number=int(national[1:]))
    return number


@lru_cache(maxsize=65536)
def region_of(e164: str) -> str | None:
    """The ISO region of a number (``US``, ``BR``…), when the numbering plan says."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))


@lru_cache(maxsize=65536)
def candidate_timezones(e164: str) -> tuple[str, ...]:
    """IANA zones a number may be in, per the numbering plan (empty when unknown)."""
    zones = number_timezones.time_zones_for_number(phonenumbers.parse(e164, None))
    return tuple(zone for zone in zones if zone != "Etc/Unknown")
