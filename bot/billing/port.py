"""The billing port's two adapters share this shape: the relay hands them recorded actions,
and the payment page asks whether its form settles an invoice by itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    """What handing an action to the port did."""

    APPLIED = "applied"
    """The local ledger holds it already (applied when it was recorded)."""
    DELIVERED = "delivered"
    """The operator's backend acknowledged it."""
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PendingAction:
    """A recorded action, claimed for delivery."""

    id: int
    idempotency_key: str
    customer_id: str
    action: str
    params: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result of handing one action to the port."""

    action_id: int
    outcome: Outcome
    error: str | None = None
    retry_after: float | None = None
    """Seconds the receiver asked us to wait (Retry-After)."""


class BillingPort(Protocol):
    """Where subscription actions end up."""

    settles_on_page: bool
    """Whether the payment page's own form marks an invoice paid (the local ledger), or only
    passes the request on to the operator's backend (which confirms with payment.succeeded)."""

    async def deliver(self, action: PendingAction) -> Delivery:
        """Hand over one action; never raises for a failed delivery."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class LocalLedger:
    """The default port: the ledger in our own database is the subscription's record, and it
    was updated when the action was recorded, so there is nothing left to do."""

    settles_on_page = True

    async def deliver(self, action: PendingAction) -> Delivery:
        return Delivery(action.id, Outcome.APPLIED)

    async def close(self) -> None:
        return None
