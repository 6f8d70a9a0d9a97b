"""Per-sender pacing: how many messages per second each of our Twilio senders is fed.

Twilio queues what a sender cannot send at once, up to a few hours' worth, then refuses with
30001; carriers filter bursts from long codes. Pacing holds each sender to its documented rate
(messages per second by sender type, as a config section). It is a token bucket per sender,
driven by the injected clock's monotonic time, consulted when the sender claims rows: a channel
whose bucket is empty is simply not claimed until it refills. Off by default, so the sender runs
as fast as the API answers.

Pacing is per worker process; run one ``bot worker`` per set of senders for the rates to hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from bot.config import ConfigSection, config_section
from bot.messages import Channel

TOLL_FREE_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})
BURST_SECONDS = 1.0
"""A sender idle for a while may catch up with this many seconds' worth at once."""


class SenderType(StrEnum):
    """Kinds of Twilio senders, each with its own documented throughput."""

    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    WHATSAPP = "whatsapp"


@config_section
class PacingConfig(ConfigSection):
    """Messages per second per sender, by sender type (Twilio's documented defaults)."""

    section: ClassVar[str] = "pacing"
    title: ClassVar[str] = "Sending pace"
    enabled: bool = False
    long_code: float = Field(default=1.0, gt=0, le=1000)
    toll_free: float = Field(default=3.0, gt=0, le=1000)
    short_code: float = Field(default=100.0, gt=0, le=1000)
    whatsapp: float = Field(default=80.0, gt=0, le=1000)
    messaging_service: SenderType = SenderType.LONG_CODE
    """How to pace a Messaging Service: as the type of the numbers in it."""

    def rate(self, sender: SenderType | None) -> float:
        """Messages per second for a sender of this type (None: a Messaging Service)."""
        return float(getattr(self, str(sender or self.messaging_service)))


def classify_sender(address: str | None) -> SenderType | None:
    """The type of a Twilio sender address (None for a Messaging Service or no sender)."""
    if not address:
        return None
    if address.startswith("whatsapp:"):
        return SenderType.WHATSAPP
    if address.isdigit() and 5 <= len(address) <= 6:
        return SenderType.SHORT_CODE
    if address.startswith("+1") and address[2:5] in TOLL_FREE_AREA_CODES:
        return SenderType.TOLL_FREE
    return SenderType.LONG_CODE


def sender_types(sms_from: str | None,
                 messaging_service_sid: str | None) -> dict[str, SenderType | None]:
    """Each channel's sender type, as the transport picks the sender (a service before a number)."""
    return {Channel.SMS: None if messaging_service_sid else classify_sender(sms_from),
            Channel.WHATSAPP: SenderType.WHATSAPP}


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved up; one token per message."""

    rate: float
    capacity: float
    tokens: float
    updated: float
    """Monotonic seconds of the last refill."""

    @classmethod
    def starting(cls, rate: float, now: float) -> TokenBucket:
        """A bucket holding one token: no burst at start-up."""
        return cls(rate, max(1.0, rate * BURST_SECONDS), 1.0, now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def available(self, now: float) -> int:
        """Whole messages that may go now."""
        self._refill(now)
        return max(0, math.floor(self.tokens))

    def take(self, count: int, now: float) -> None:
        """Spend ``count`` tokens (going into debt is allowed and paid back before the next)."""
        self._refill(now)
        self.tokens -= count

    def seconds_until_next(self, now: float) -> float:
        """How long until one more message may go."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)


class Pacer:
    """One token bucket per channel's sender, at the configured rate for its type."""

    def __init__(self, senders: Mapping[str, SenderType | None]) -> None:
        self.senders = dict(senders)
        self.buckets: dict[str, TokenBucket] = {}

    def allowance(self, config: PacingConfig, now: float) -> dict[str, int] | None:
        """How many messages each channel may send now; None when pacing is off."""
        if not config.enabled:
            self.buckets.clear()
            return None
        allowed = {}
        for channel, sender in self.senders.items():
            rate = config.rate(sender)
            bucket = self.buckets.get(channel)
            if bucket is None or bucket.rate != rate:
                bucket = self.buckets[channel] = TokenBucket.starting(rate, now)
            allowed[channel] = bucket.available(now)
        return allowed

    def spend(self, sent: Mapping[str, int], now: float) -> None:
        """Record messages claimed for sending, per channel."""
        for channel, count in sent.items():
            if channel in self.buckets:
                self.buckets[channel].take(count, now)

    def seconds_until_next(self, now: float) -> float | None:
        """How long until a channel that has run dry may send again (None: none has)."""
        waits = [bucket.seconds_until_next(now) for bucket in self.buckets.values()
                 if bucket.tokens < 1.0]
        return min(waits) if waits else None
