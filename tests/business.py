"""Helpers for tests that drive the service as the business does: events through the API,
jobs through the scheduler, and the outbox and ledger read back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.config import save_section
from bot.store.models import (
    BillingAction,
    Conversation,
    Customer,
    Job,
    OutboxMessage,
    RetentionEvent,
)

API_HEADERS = {"Authorization": "Bearer test-api-token"}
PHONE = "+14155550100"
BILLING_PHONE = "+14155550199"
LA = "America/Los_Angeles"
LA_MORNING = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
"""10:00 in Los Angeles (and 13:00 in New York): inside everyone's daytime."""
_ids = itertools.count(1)


def event_id() -> str:
    return f"evt_{next(_ids)}"


def customer_upserted(customer_id: str = "cus_1", **fields: Any) -> dict[str, Any]:
    """A customer.upserted event (an SMS customer in Los Angeles unless told otherwise)."""
    customer = {"id": customer_id, "phone": PHONE, "locale": "en", "timezone": LA, "plan": "pro",
                "status": "active", "currency": "USD"}
    customer.update(fields)
    return {"id": event_id(), "type": "customer.upserted", "customer": customer}


def payment_failed(invoice_id: str = "in_1", customer_id: str = "cus_1", amount: str = "19.00",
                   currency: str = "USD", hosted_url: str | None = None) -> dict[str, Any]:
    return {"id": event_id(), "type": "payment.failed", "customer_id": customer_id,
            "invoice": {"id": invoice_id, "amount": amount, "currency": currency,
                        "hosted_url": hosted_url}}


def payment_succeeded(invoice_id: str = "in_1", customer_id: str = "cus_1") -> dict[str, Any]:
    return {"id": event_id(), "type": "payment.succeeded", "customer_id": customer_id,
            "invoice_id": invoice_id}


async def send(bot: Any, event: dict[str, Any], *, status: int = 202) -> dict[str, Any]:
    """POST an event; asserts the status and returns the JSON answer."""
    response = await bot.client.post("/api/events", json=event, headers=API_HEADERS)
    assert response.status == status, await response.text()
    return await response.json()


async def run_jobs(services: Any) -> int:
    """Run every job due now."""
    total = 0
    while (count := await services.scheduler.run_due()) > 0:
        total += count
    return total


async def outbox(services: Any, **where: Any) -> list[OutboxMessage]:
    """Outbox rows in order, optionally filtered by column values."""
    def read(session: Any) -> list[OutboxMessage]:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list(session.scalars(query))
    return await services.store.read(read)


async def jobs(services: Any) -> list[Job]:
    return await services.store.read(lambda s: list(s.scalars(select(Job).order_by(Job.id))))


async def actions(services: Any) -> list[BillingAction]:
    return await services.store.read(
        lambda s: list(s.scalars(select(BillingAction).order_by(BillingAction.id))))


async def retention(services: Any) -> list[tuple[str, str | None, str | None]]:
    """(kind, reason, offer) of every retention event, in order."""
    return await services.store.read(lambda s: [
        (e.kind, e.reason, e.offer)
        for e in s.scalars(select(RetentionEvent).order_by(RetentionEvent.id))])


async def customer_row(services: Any, customer_id: str = "cus_1") -> Customer:
    return await services.store.read(lambda s: s.get(Customer, customer_id))


async def configure(services: Any, section: str, **values: Any) -> None:
    """Save a run-time config section as an operator would."""
    now = services.clock.now()
    await services.store.write(lambda s: save_section(s, section, values, now=now,
                                                      updated_by="test"))


async def hand_back(services: Any) -> None:
    """The agent resolves the (only) conversation without having written: it is the bot's again."""
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    now = services.clock.now()
    await services.store.write(
        lambda s: services.desk.resolve(s, conversation.id, "agent@example.com", now))
