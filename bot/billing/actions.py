"""Billing requests: what a turn (or the payment page) asks of a subscription, stored as
durable action rows and applied to the local ledger in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.billing.ledger import Action, apply_action
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import BillingAction, Customer

ACTIONS = BillingAction.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BillingRequest:
    """One action on one customer's subscription; the key makes asking twice a no-op."""

    customer_id: str
    action: str
    params: dict[str, Any]
    idempotency_key: str
    requested_at: datetime

    def __post_init__(self) -> None:
        if self.action not in Action.ALL:
            raise ValueError(f"unknown billing action {self.action!r}")


def record_requests(session: Session, requests: Sequence[BillingRequest]) -> list[str]:
    """Store each request once and apply the new ones to the local ledger; returns the keys
    that were new."""
    if not requests:
        return []
    rows = [{"idempotency_key": r.idempotency_key, "customer_id": r.customer_id,
             "action": r.action, "params": r.params, "status": "pending", "attempts": 0,
             "due_at": r.requested_at, "created_at": r.requested_at} for r in requests]
    statement = insert_ignoring_duplicates(session, BillingAction, ["idempotency_key"]).returning(
        ACTIONS.c.idempotency_key)
    new = {row[0] for row in session.execute(statement, rows)}
    for request in requests:
        if request.idempotency_key in new:
            customer = session.get(Customer, request.customer_id)
            if customer is not None:
                apply_action(customer, request.action, request.params, request.requested_at)
    return [r.idempotency_key for r in requests if r.idempotency_key in new]
