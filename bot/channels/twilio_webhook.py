"""Twilio's webhooks, adapted: signature check, form → ``Inbound``, status form → report.

This is the only module that knows Twilio's field names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.addresses import InvalidAddress, split_channel_address
from bot.messages import Inbound, Media
from bot.status import KNOWN_STATUSES, canonical_status

SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_TEXT = 4096
MAX_MEDIA = 10
_SID = re.compile(r"^[A-Za-z]{2}[0-9A-Za-z]{10,62}$")


class WebhookRejected(Exception):
    """A webhook we refuse, with the HTTP status and a reason for the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_form(body: bytes) -> MultiDict[str]:
    """Parse an ``application/x-www-form-urlencoded`` body; refuse what is not UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "the body is not valid UTF-8") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookRejected(400, f"malformed form: {error}") from None
    return MultiDict(pairs)


def signed_url(public_base_url: str, path_qs: str) -> str:
    """The URL Twilio signed: our public base plus the path and raw query it called."""
    return public_base_url.rstrip("/") + path_qs


def verify_signature(token: str, url: str, form: MultiDict[str], signature: str | None) -> None:
    """Raise WebhookRejected(403) unless Twilio signed this URL and form with ``token``.

    The SDK's validator also accepts the URL with the default port added or removed, as
    Twilio's own signing is inconsistent about it.
    """
    if not signature:
        raise WebhookRejected(403, f"missing {SIGNATURE_HEADER}")
    if not RequestValidator(token).validate(url, form, signature):
        raise WebhookRejected(403, f"invalid {SIGNATURE_HEADER}")


def _field(form: MultiDict[str], name: str, *, required: bool = False, limit: int = 256) -> str:
    value = form.get(name, "")
    if required and not value:
        raise WebhookRejected(400, f"missing field {name}")
    if len(value) > limit:
        raise WebhookRejected(400, f"field {name} is too long")
    return value


def parse_inbound(form: MultiDict[str]) -> Inbound:
    """Normalize Twilio's inbound message form (SMS or WhatsApp) into an ``Inbound``."""
    sid = _field(form, "MessageSid") or _field(form, "SmsMessageSid", required=True)
    if not _SID.match(sid):
        raise WebhookRejected(400, "MessageSid is malformed")
    try:
        channel, address = split_channel_address(_field(form, "From", required=True, limit=64))
        _, business = split_channel_address(_field(form, "To", required=True, limit=64))
    except InvalidAddress as error:
        raise WebhookRejected(400, f"bad phone number: {error}") from None
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError:
        raise WebhookRejected(400, "NumMedia is not a number") from None
    media = tuple(
        Media(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", ""))
        for i in range(min(max(count, 0), MAX_MEDIA))
        if form.get(f"MediaUrl{i}")
    )
    return Inbound(
        channel=channel,
        address=address,
        business_address=business,
        text=_field(form, "Body", limit=MAX_TEXT),
        # A tapped quick-reply button sends ButtonPayload; a picked list row sends ListId.
        payload=_field(form, "ButtonPayload") or _field(form, "ListId") or None,
        media=media,
        provider_id=sid,
        profile_name=_field(form, "ProfileName") or None,
    )


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A delivery status callback."""

    provider_id: str
    status: str
    error_code: int | None


def parse_status(form: MultiDict[str]) -> StatusReport:
    """Normalize Twilio's status callback form."""
    sid = _field(form, "MessageSid") or _field(form, "SmsSid", required=True)
    status = (_field(form, "MessageStatus") or _field(form, "SmsStatus", required=True)).lower()
    if not _SID.match(sid):
        raise WebhookRejected(400, "MessageSid is malformed")
    if status not in KNOWN_STATUSES:
        raise WebhookRejected(400, f"unknown MessageStatus {status!r}")
    status = canonical_status(status)
    raw_code = form.get("ErrorCode") or ""
    try:
        code = int(raw_code) if raw_code else None
    except ValueError:
        raise WebhookRejected(400, "ErrorCode is not a number") from None
    return StatusReport(sid, status, code)
