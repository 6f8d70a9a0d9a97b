"""Delivery status: the order statuses move in, so a late or repeated callback never undoes one.

Every status Twilio documents for a message is known here. The inbound ones (receiving,
received) never describe a message we sent: a callback carrying one is accepted and ignored.
"""

from __future__ import annotations

# Twilio's outbound message statuses, by how far along they are. The rank-4 ones end the line
# unless the channel reports reading (WhatsApp).
_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5,
}
_INBOUND = frozenset({"receiving", "received"})
_ALIASES = {"partially_delivered": "delivered"}
"""Twilio statuses recorded as the one they amount to (a report's status holds 16 characters)."""
FAILED = frozenset({"failed", "undelivered"})
"""Our statuses of a message that did not reach the customer; nothing moves them on."""
KNOWN_STATUSES = frozenset(_RANK) | _INBOUND | frozenset(_ALIASES)


def canonical_status(twilio_status: str) -> str:
    """The status a report is recorded and applied as."""
    return _ALIASES.get(twilio_status, twilio_status)


def our_status(twilio_status: str) -> str:
    """Our outbox status for one of Twilio's (its queued/accepted/sending all mean "sent" to us;
    a scheduled message canceled there never reached the customer: failed)."""
    if _RANK.get(twilio_status, 0) <= _RANK["sent"]:
        return "sent"
    return "failed" if twilio_status == "canceled" else twilio_status


def status_reason(twilio_status: str, error_code: int | None) -> str | None:
    """Why a message ended where it did, for the outbox row."""
    if error_code:
        return f"Twilio error {error_code}"
    return "canceled at Twilio" if twilio_status == "canceled" else None


def advances(current: str, reported: str) -> bool:
    """Whether a reported status moves a message forward from ``current``."""
    if reported not in _RANK or current in FAILED:
        return False
    if current not in _RANK:  # still in our hands (queued/sending in the outbox)
        return True
    return _RANK[reported] > _RANK[current]
