"""Outbox rows before the gate has ruled on them: built from a rendered message at enqueue, or
read back from the table at send time.

A WhatsApp row keeps what it was rendered from (template variables, choices, locale) so that,
if WhatsApp's window has closed by the time it is sent, the gate's fallback can fill an approved
template or render the same message for the customer's SMS number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.gate import Verdict
from bot.messages import Channel, Choice, Rendered, Say
from bot.segments import sms_cost
from bot.store.models import Contact

MAX_BUSINESS_KEY = 200


@dataclass(eq=False)
class Draft:
    """One outbox row and what the gate needs to rule on it."""

    row: dict[str, Any]
    """The outbox columns; the gate fills status, status_reason, due_at and the template ones."""
    contact: Contact
    say: Say | None
    """What the row was rendered from (None when not kept: SMS rows read back at send time)."""
    locale: str
    verdict: Verdict | None = field(default=None)


def outbox_row(*, business_key: str, contact: Contact, conversation_id: int, rendered: Rendered,
               say: Say, locale: str, kind: str, now: datetime, due_at: datetime,
               in_reply_to: int | None) -> dict[str, Any]:
    """The outbox columns for a rendered message to ``contact`` (before the gate's verdict)."""
    channel = Channel(contact.channel)
    cost = sms_cost(rendered.body) if channel is Channel.SMS else None
    buttons = rendered.choices if rendered.buttons else ()
    return {
        "business_key": business_key,
        "conversation_id": conversation_id,
        "contact_id": contact.id,
        "channel": str(channel),
        "to_address": contact.address,
        "body": rendered.body,
        "choices": [{"payload": c.payload, "title": c.title} for c in buttons],
        "list_button": rendered.list_button,
        "content_sid": None,
        "content_variables": None,
        "kind": kind,
        "subject": say.subject,
        "template": say.template,
        "render_args": render_args(say, locale) if channel is Channel.WHATSAPP else None,
        "sms_encoding": str(cost.encoding) if cost else None,
        "sms_segments": cost.segments if cost else None,
        "in_reply_to": in_reply_to,
        "status": "queued",
        "status_reason": None,
        "due_at": due_at,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def derived_key(business_key: str, channel: Channel) -> str:
    """The business key of a message re-targeted to ``channel``: derived from the original, so
    re-targeting the same message twice still queues it once."""
    key = f"{business_key}>{channel}"
    if len(key) <= MAX_BUSINESS_KEY:
        return key
    return f"{hashlib.sha256(business_key.encode()).hexdigest()}>{channel}"


def render_args(say: Say, locale: str) -> dict[str, Any]:
    """What a message was rendered from, as JSON."""
    return {"template": say.template, "locale": locale,
            "variables": {name: _encode(value) for name, value in say.variables.items()},
            "choices": [{"payload": c.payload, "title": c.title} for c in say.choices]}


def say_from(args: Mapping[str, Any] | None) -> tuple[Say | None, str]:
    """The message and locale kept by ``render_args`` (None when nothing was kept)."""
    if not args:
        return None, ""
    say = Say(args["template"], {name: _decode(value) for name, value in args["variables"].items()},
              [Choice(c["payload"], c["title"]) for c in args["choices"]])
    return say, args["locale"]


# Template variables are plain JSON except for the types the renderer's filters format.
_TAGS = {"$decimal": Decimal, "$datetime": datetime.fromisoformat, "$date": date.fromisoformat}


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Mapping):
        return {str(key): _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    return str(value)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and (tag := next(iter(value))) in _TAGS:
            return _TAGS[tag](value[tag])
        return {key: _decode(item) for key, item in value.items()}
    return value
