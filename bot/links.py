"""Signed, expiring, single-purpose link tokens (payment page, consent page).

A token names one subject (an invoice, a contact) for one purpose and carries its expiry;
it is signed with BOT_SECRET_KEY under a purpose-specific salt, so a consent link can never
open a payment page. Expiry is checked against the injected clock. Whether a link was already
used (a paid invoice) is the caller's business, against the database.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from itsdangerous import BadSignature, Signer


class LinkInvalid(Exception):
    """The token was not made by us for this purpose (tampered, truncated, other purpose)."""


class LinkExpired(Exception):
    """The token is genuine but past its expiry."""


def _signer(secret_key: str, purpose: str) -> Signer:
    return Signer(secret_key, salt=f"link:{purpose}", digest_method=hashlib.sha256)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def issue_link_token(secret_key: str, purpose: str, subject: str, expires_at: datetime) -> str:
    """A URL-safe token for ``subject`` under ``purpose``, valid until ``expires_at``."""
    body = f"{_b64(subject)}.{int(expires_at.timestamp()):x}"
    return _signer(secret_key, purpose).sign(body).decode()


def read_link_token(secret_key: str, purpose: str, token: str, now: datetime) -> str:
    """The subject of a genuine, unexpired token; LinkInvalid or LinkExpired otherwise."""
    try:
        body = _signer(secret_key, purpose).unsign(token).decode()
        subject, expiry = body.split(".")
        subject, expires = _unb64(subject), int(expiry, 16)
    except (BadSignature, ValueError, UnicodeDecodeError):
        raise LinkInvalid("not a valid link") from None
    if now.timestamp() >= expires:
        raise LinkExpired("the link has expired")
    return subject
