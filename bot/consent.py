"""The consent ledger: every opt-in and opt-out is a row with its proof; a contact's current
consent is the latest of them (kept on the contact for the gate to read cheaply)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.links import issue_link_token
from bot.store.models import ConsentEvent, Contact

LINK_PURPOSE = "consent"
LINK_LIFETIME = timedelta(days=7)
"""How long a "what did I agree to?" link opens the customer's consent page."""


@dataclass(frozen=True)
class ConsentChange:
    """An opt-in or opt-out and its proof."""

    action: str
    """``opt_in`` or ``opt_out``."""
    source: str
    """``keyword``, ``message`` (plain words), ``checkout``, ``agent``, ``api`` or ``carrier``."""
    text: str | None = None
    provider_id: str | None = None


def record_consent(session: Session, contact: Contact, change: ConsentChange,
                   now: datetime) -> None:
    """Add ``change`` to the ledger and make the contact's current consent agree with it."""
    if change.action not in ("opt_in", "opt_out"):
        raise ValueError(f"unknown consent action {change.action!r}")
    contact.opted_out = change.action == "opt_out"
    session.add(ConsentEvent(contact_id=contact.id, channel=contact.channel,
                             action=change.action, source=change.source,
                             text=(change.text or "")[:500] or None,
                             provider_id=change.provider_id, at=now))


def consent_page_link(base_url: str, secret_key: str, contact_id: int,
                      now: datetime) -> tuple[str, datetime]:
    """A no-login link to a contact's consent history and data, and when it stops working."""
    expires = now + LINK_LIFETIME
    token = issue_link_token(secret_key, LINK_PURPOSE, str(contact_id), expires)
    return f"{base_url.rstrip('/')}/consent/{token}", expires
