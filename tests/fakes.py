"""Test doubles that are not servers: a clock you set, and Twilio-style request signing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator


class FrozenClock:
    """A clock that moves only when told to.

    It starts at the real time because the Twilio double stamps messages with the real clock;
    tests about a time of day set their own instant.
    """

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime.now(UTC).replace(microsecond=0)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, now: datetime) -> None:
        self._monotonic += (now - self._now).total_seconds()
        self._now = now

    def advance(self, **delta: float) -> None:
        self.set(self._now + timedelta(**delta))


def sign(token: str, url: str, form: dict[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send for this URL and form."""
    return RequestValidator(token).compute_signature(url, form)


def twilio_form(sid: str, from_: str, body: str, to: str = "+15005550006", **extra: str) -> dict:
    """An inbound message form as Twilio posts it."""
    whatsapp = from_.startswith("whatsapp:")
    form = {
        "MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32, "From": from_,
        "To": f"whatsapp:{to}" if whatsapp else to, "Body": body, "NumMedia": "0",
        "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
    }
    if whatsapp:
        form["WaId"] = from_.removeprefix("whatsapp:+")
        form["ProfileName"] = "Ana"
    form.update(extra)
    return form


def encode(form: dict[str, str]) -> str:
    return urlencode(form)
