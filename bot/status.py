"""Delivery status: the order statuses move in, so a late or repeated callback never undoes one."""

from __future__ import annotations

# Twilio's message statuses, by how far along they are. failed/undelivered end the line.
_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "read": 5,
}
_FINAL = frozenset({"failed", "undelivered"})
KNOWN_STATUSES = frozenset(_RANK)


def our_status(twilio_status: str) -> str:
    """Our outbox status for one of Twilio's (its queued/accepted/sending all mean "sent" to us)."""
    return "sent" if _RANK.get(twilio_status, 0) <= _RANK["sent"] else twilio_status


def advances(current: str, reported: str) -> bool:
    """Whether a reported status moves a message forward from ``current``."""
    if reported not in _RANK or current in _FINAL:
        return False
    if current not in _RANK:  # still in our hands (queued/sending in the outbox)
        return True
    return _RANK[reported] > _RANK[current]
