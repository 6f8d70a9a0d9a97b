"""Live updates for the agent console: which conversations changed, as soon as they change.

Every web process polls a cheap cursor — the highest ids of customer messages, queued messages,
delivery reports and agents' actions (one primary-key look-up each) and a fingerprint of the
queue (from the partial index of conversations in handoff) — so a change written by any process
(several web processes and a worker on PostgreSQL) reaches every console. The fingerprint also
catches a queue change whose row id was committed out of order. Work done in this process (a
committed webhook batch, an agent's action) pokes the feed to look at once instead of at the
next tick, which is all SQLite needs. Nothing is read while nobody watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, literal, or_, select, union
from sqlalchemy.orm import Session

from bot.store.database import Store
from bot.store.models import (
    Conversation,
    DeliveryReport,
    HandoffEvent,
    InboundMessage,
    OutboxMessage,
)
from flows.handoff import HandoffFlow

log = logging.getLogger(__name__)

Cursor = tuple[int, ...]
"""Highest ids of inbound messages, outbox rows, delivery reports and handoff events, then the
queue's fingerprint: how many conversations are in handoff, the sum of their ids, and the sum
of the ids of those with an agent."""


@dataclass(frozen=True)
class Change:
    """What changed since the last look."""

    conversations: frozenset[int]
    """Conversations with a new message, status or action (those in handoff, and watched ones)."""
    queue: bool
    """Whether the queue may look different (a conversation in handoff changed)."""


@dataclass(eq=False)
class Subscription:
    """One console page listening."""

    watching: frozenset[int]
    changes: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)


def read_cursor(session: Session) -> Cursor:
    """The current cursor, in one statement."""
    in_handoff = Conversation.flow == HandoffFlow.flow_name
    row = session.execute(select(
        select(func.max(InboundMessage.id)).scalar_subquery(),
        select(func.max(OutboxMessage.id)).scalar_subquery(),
        select(func.max(DeliveryReport.id)).scalar_subquery(),
        select(func.max(HandoffEvent.id)).scalar_subquery(),
        select(func.count()).where(in_handoff).scalar_subquery(),
        select(func.sum(Conversation.id)).where(in_handoff).scalar_subquery(),
        select(func.sum(Conversation.id)).where(in_handoff, Conversation.state == "with_agent")
        .scalar_subquery())).one()
    return tuple(int(value or 0) for value in row)


def changes_between(session: Session, old: Cursor, new: Cursor, watching: Iterable[int]) -> Change:
    """The conversations touched by rows between two cursors that the consoles care about:
    those in handoff now, the watched ones, and any an agent acted on."""
    watched = list(watching)
    in_handoff = select(Conversation.id).where(Conversation.flow == HandoffFlow.flow_name)

    def relevant(column):  # type: ignore[no-untyped-def]
        return or_(column.in_(in_handoff), column.in_(watched)) if watched else column.in_(in_handoff)

    inbound = InboundMessage.__table__.c  # type: ignore[attr-defined]
    outbox = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    reports = DeliveryReport.__table__.c  # type: ignore[attr-defined]
    events = HandoffEvent.__table__.c  # type: ignore[attr-defined]
    parts = []
    if new[0] > old[0]:
        parts.append(select(inbound.conversation_id.label("cid"), literal(False).label("acted"))
                     .where(inbound.id > old[0], inbound.id <= new[0],
                            relevant(inbound.conversation_id)))
    if new[1] > old[1]:
        parts.append(select(outbox.conversation_id.label("cid"), literal(False).label("acted"))
                     .where(outbox.id > old[1], outbox.id <= new[1],
                            relevant(outbox.conversation_id)))
    if new[2] > old[2]:
        parts.append(select(outbox.conversation_id.label("cid"), literal(False).label("acted"))
                     .join(reports, reports.provider_id == outbox.provider_id)
                     .where(reports.id > old[2], reports.id <= new[2],
                            relevant(outbox.conversation_id)))
    if new[3] > old[3]:
        parts.append(select(events.conversation_id.label("cid"), literal(True).label("acted"))
                     .where(events.id > old[3], events.id <= new[3]))
    reshaped = new[4:] != old[4:]
    if not parts:
        return Change(frozenset(), reshaped)
    rows = session.execute(union(*parts) if len(parts) > 1 else parts[0]).all()
    touched = frozenset(row.cid for row in rows)
    queue = reshaped or any(row.acted for row in rows) or bool(touched & set(session.scalars(
        in_handoff.where(Conversation.id.in_(touched)))))
    return Change(touched, queue)


class HandoffFeed:
    """Polls for changes while consoles listen, and tells each of them."""

    def __init__(self, store: Store, *, poll_interval: float = 1.0) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self._subscribers: set[Subscription] = set()
        self._cursor: Cursor | None = None
        self._wake = asyncio.Event()
        self._closed = False

    def poke(self) -> None:
        """Something was just written in this process: look now."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, watching: Iterable[int] = ()) -> AsyncIterator[Subscription]:
        """Listen for changes (to the queue, and to the conversations in ``watching``)."""
        subscription = Subscription(frozenset(watching))
        if self._closed:
            subscription.changes.put_nowait(None)
        self._subscribers.add(subscription)
        if self._cursor is None:
            # Changes count from now: whatever is written after subscribing is reported.
            self._cursor = await self.store.read(read_cursor)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def close(self) -> None:
        """End every subscription (the server is shutting down)."""
        self._closed = True
        for subscription in self._subscribers:
            subscription.changes.put_nowait(None)

    async def run(self, stop: asyncio.Event) -> None:
        """Look for changes until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.look()
            except Exception:
                log.exception("looking for console updates failed; retrying")
            self._wake.clear()
            waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def look(self) -> None:
        """Read the cursor and, if it moved, tell the subscribers what changed."""
        if not self._subscribers:
            self._cursor = None  # nobody listened meanwhile: start again from now
            return
        watching = frozenset().union(*(s.watching for s in self._subscribers))
        old = self._cursor

        def read(session: Session) -> tuple[Cursor, Change | None]:
            new = read_cursor(session)
            if old is None or new == old:
                return new, None
            return new, changes_between(session, old, new, watching)

        self._cursor, change = await self.store.read(read)
        if change is None or not (change.conversations or change.queue):
            return
        for subscription in list(self._subscribers):
            if change.queue or change.conversations & subscription.watching:
                subscription.changes.put_nowait(change)
