"""What the sender needs from a transport, and how sending can fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.messages import Channel, Choice


class FailureKind(StrEnum):
    """How a failed send should be treated."""

    TRANSIENT = "transient"
    """Nothing was sent (429, connection refused): retry after a backoff."""
    AMBIGUOUS = "ambiguous"
    """The provider may have sent it (timeout, 5xx): look before retrying."""
    PERMANENT = "permanent"
    """Will never succeed as it is (invalid number, opted out): do not retry."""


class SendFailure(Exception):
    """A send that did not succeed, classified for the retry policy."""

    def __init__(self, kind: FailureKind, reason: str, code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message as a transport sends it."""

    outbox_id: int
    channel: Channel
    to: str
    """E.164 number, no channel prefix."""
    body: str
    buttons: tuple[Choice, ...] = ()
    """Choices WhatsApp shows itself: quick-reply buttons, or a list when ``list_button`` is set."""
    list_button: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None


class Transport(Protocol):
    """Sends messages to customers."""

    timeout: float
    """The longest one request to the provider may take, in seconds."""

    async def send(self, message: OutgoingMessage) -> str:
        """Send; return the provider's message id or raise SendFailure."""
        ...

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> list[str]:
        """Provider ids of messages matching ``message`` created since ``since``, newest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
