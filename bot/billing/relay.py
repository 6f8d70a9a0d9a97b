"""The relay: hands recorded billing actions to the configured port, outside any transaction.

A claimed action is ``delivering`` under a lease; if the process dies mid-delivery the lease
runs out and the action is handed over again with the same idempotency key, so the operator's
backend applies it once. A customer's actions go out one at a time, in the order they were
taken — a resume never overtakes the pause before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.billing.port import BillingPort, Delivery, Outcome, PendingAction
from bot.clock import Clock
from bot.sender import backoff_delay
from bot.store.database import Store
from bot.store.models import BillingAction

log = logging.getLogger(__name__)
ACTIONS = BillingAction.__table__  # type: ignore[attr-defined]
UNFINISHED = ("pending", "delivering")


def claim_actions(session: Session, now: datetime, limit: int,
                  lease: timedelta) -> list[PendingAction]:
    """Claim due actions (and ones whose lease ran out), at most one per customer: the
    customer's earliest unfinished action."""
    columns = (ACTIONS.c.id, ACTIONS.c.idempotency_key, ACTIONS.c.customer_id, ACTIONS.c.action,
               ACTIONS.c.params, ACTIONS.c.attempts, ACTIONS.c.created_at)
    due = (select(*columns).where(ACTIONS.c.status == "pending", ACTIONS.c.due_at <= now)
           .order_by(ACTIONS.c.id).limit(limit))
    stale = (select(*columns).where(ACTIONS.c.status == "delivering", ACTIONS.c.lease_until < now)
             .order_by(ACTIONS.c.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
        stale = stale.with_for_update(skip_locked=True)
    candidates = list(session.execute(stale).all()) + list(session.execute(due).all())
    if not candidates:
        return []
    first_unfinished = dict(session.execute(
        select(ACTIONS.c.customer_id, func.min(ACTIONS.c.id))
        .where(ACTIONS.c.status.in_(UNFINISHED),
               ACTIONS.c.customer_id.in_({row.customer_id for row in candidates}))
        .group_by(ACTIONS.c.customer_id)).all())
    claimed = [PendingAction(row.id, row.idempotency_key, row.customer_id, row.action,
                             row.params, row.attempts + 1, row.created_at)
               for row in sorted(candidates, key=lambda r: r.id)
               if first_unfinished.get(row.customer_id) == row.id]
    if claimed:
        session.connection().execute(
            update(ACTIONS).where(ACTIONS.c.id == bindparam("aid")).values(
                status="delivering", lease_until=now + lease, attempts=bindparam("n")),
            [{"aid": action.id, "n": action.attempts} for action in claimed])
    return claimed


def record_deliveries(session: Session, claimed: Sequence[PendingAction],
                      deliveries: Sequence[Delivery], now: datetime, *, max_attempts: int,
                      rng: Callable[[], float]) -> None:
    """Write what each delivery did: done, failed for good, or due again after a backoff."""
    attempts = {action.id: action.attempts for action in claimed}
    rows = []
    for delivery in deliveries:
        status, due, done = str(delivery.outcome), now, now
        if delivery.outcome is Outcome.RETRY:
            if attempts[delivery.action_id] >= max_attempts:
                status = "failed"
            else:
                status, done = "pending", None
                due = now + timedelta(seconds=backoff_delay(
                    attempts[delivery.action_id], rng, retry_after=delivery.retry_after))
        if status == "failed":
            log.warning("billing action not delivered",
                        extra={"action_id": delivery.action_id, "reason": delivery.error})
        rows.append({"aid": delivery.action_id, "s": status, "due": due, "done": done,
                     "err": (delivery.error or None) and delivery.error[:500]})
    if rows:
        session.connection().execute(
            update(ACTIONS).where(ACTIONS.c.id == bindparam("aid")).values(
                status=bindparam("s"), due_at=bindparam("due"), done_at=bindparam("done"),
                last_error=bindparam("err"), lease_until=None),
            rows)


class BillingRelay:
    """Delivers recorded actions through the port until stopped."""

    def __init__(self, store: Store, port: BillingPort, clock: Clock, *, batch_size: int = 50,
                 lease: timedelta = timedelta(seconds=60), poll_interval: float = 1.0,
                 max_attempts: int = 12, rng: Callable[[], float] = random.random) -> None:
        self.store = store
        self.port = port
        self.clock = clock
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.rng = rng

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set."""
        while not stop.is_set():
            try:
                handled = await self.deliver_due()
            except Exception:
                log.exception("billing relay pass failed; retrying")
                handled = 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    async def deliver_due(self) -> int:
        """Claim one batch and hand it to the port; returns how many actions were handled."""
        now = self.clock.now()
        claimed = await self.store.write(
            lambda session: claim_actions(session, now, self.batch_size, self.lease))
        if not claimed:
            return 0
        deliveries = await asyncio.gather(*(self.port.deliver(action) for action in claimed))
        done_at = self.clock.now()
        await self.store.write(lambda session: record_deliveries(
            session, claimed, deliveries, done_at, max_attempts=self.max_attempts, rng=self.rng))
        return len(claimed)

    async def drain(self) -> int:
        """Deliver everything due now (the tests use it to settle deliveries); returns how many
        were handled."""
        total = 0
        while (count := await self.deliver_due()) > 0:
            total += count
        return total
