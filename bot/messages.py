"""Channel-neutral message shapes: what the adapter produces and what flows ask to say.

Nothing past the channel adapter sees Twilio field names; these are the only shapes it hands on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    """The channels the service speaks on."""

    SMS = "sms"
    WHATSAPP = "whatsapp"


@dataclass(frozen=True, slots=True)
class Media:
    """An attachment the customer sent."""

    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a customer, normalized."""

    channel: Channel
    address: str
    """The customer's number in E.164, without any ``whatsapp:`` prefix."""
    text: str
    provider_id: str
    """The provider's id for the message (Twilio's MessageSid): the exactly-once key."""
    business_address: str = ""
    payload: str | None = None
    """A button's or list row's payload, when the customer tapped one."""
    media: tuple[Media, ...] = ()
    profile_name: str | None = None

    @property
    def conversation_key(self) -> str:
        """Identifies the conversation this message belongs to (one per channel and number)."""
        return f"{self.channel}:{self.address}"


def N_(message: str) -> str:
    """Mark a label for translation; it is translated when rendered in the contact's locale."""
    return message


@dataclass(frozen=True, slots=True)
class Choice:
    """A one-tap answer offered to the customer: a button on WhatsApp, a number on SMS."""

    payload: str
    title: str


@dataclass(slots=True)
class Say:
    """A flow's request to say something; rendered later in the contact's locale and channel."""

    template: str
    """Template key, ``<flow>.<name>`` (e.g. ``faq.answer``)."""
    variables: dict[str, Any] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)
    business_key: str | None = None
    """Unique key for proactive messages (e.g. ``dunning:in_1:2``); replies get one from the inbound."""
    subject: str | None = None
    """What a proactive message is about, for per-subject caps (e.g. ``dunning:in_1``)."""
    not_before: datetime | None = None
    compliance: bool = False
    """Confirms a STOP/START keyword: goes out even to a contact who has just opted out."""
    kind: str | None = None
    """``reply`` or ``proactive`` when the flow knows better than the turn (an agent answering
    the customer's recent message is a reply though no message arrived in this turn)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for a channel: final text and its choices."""

    body: str
    choices: tuple[Choice, ...] = ()
    """Every choice offered, in order; an SMS number or a typed title maps back through these."""
    buttons: bool = False
    """Whether the channel shows the choices itself, as buttons or a list (else they are a
    numbered menu in the body)."""
    list_button: str | None = None
    """The label of the button that opens the list, when the choices are a WhatsApp list."""
