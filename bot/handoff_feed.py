"""Live updates for the agent console: which conversations changed, as soon as they change.

Every web process polls a cheap cursor — the highest ids of customer messages, queued messages,
delivery reports and agents' actions (one primary-key look-up each) and a fingerprint of the
queue (from the partial index of conversations in handoff) — and reads the rows the consoles
care about from a little below those ids up, so a change written by any process (several web
processes and a worker on PostgreSQL) reaches every console. Reading below the cursor again
catches a row whose id was taken before another's but committed after it, as happens on
PostgreSQL; the rows already reported are remembered so each is reported once. The fingerprint
also catches a queue change whose rows are all older than that. Work done in this process (a
committed webhook batch, an agent's action) pokes the feed to look at once instead of at the
next tick, which is all SQLite needs. Nothing is read while nobody watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, literal, or_, select, union_all
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

LOOK_BACK = 1000
"""How many ids below the cursor each look reads again. A row committed later than this many
rows numbered after it is not reported (its conversation's next row is)."""


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


class Reported:
    """The rows already reported, as (table's place in the cursor, id), kept while a look can
    still read them again: at most ``LOOK_BACK`` per table."""

    def __init__(self) -> None:
        self._rows: set[tuple[int, int]] = set()

    def first_time(self, rows: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
        """Which of ``rows`` were not reported before; from now on they were."""
        fresh = set(rows) - self._rows
        self._rows |= fresh
        return fresh

    def forget_below(self, cursor: Cursor) -> None:
        """Drop the rows the next look, reading from ``cursor``, will not read again."""
        self._rows = {(table, row_id) for table, row_id in self._rows
                      if row_id > cursor[table] - LOOK_BACK}


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


def changes_between(session: Session, old: Cursor, new: Cursor, watching: Iterable[int],
                    reported: Reported) -> Change:
    """The conversations touched by rows not yet ``reported``, numbered from a little below
    ``old`` up to ``new``, that the consoles care about: those in handoff now, the watched ones,
    and any an agent acted on."""
    watched = list(watching)
    in_handoff = select(Conversation.id).where(Conversation.flow == HandoffFlow.flow_name)

    def relevant(column):  # type: ignore[no-untyped-def]
        return or_(column.in_(in_handoff), column.in_(watched)) if watched else column.in_(in_handoff)

    def rows(table: int, row_id, conversation_id, *, acted: bool = False):  # type: ignore[no-untyped-def]
        """One table's rows in the window: where they are in the cursor, id, conversation, and
        whether the queue may change (an agent acted, or the conversation is in handoff)."""
        queue = literal(True) if acted else conversation_id.in_(in_handoff)
        return select(literal(table).label("source"), row_id.label("row_id"),
                      conversation_id.label("cid"), queue.label("queue")).where(
            row_id > max(0, old[table] - LOOK_BACK), row_id <= new[table])

    inbound = InboundMessage.__table__.c  # type: ignore[attr-defined]
    outbox = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    reports = DeliveryReport.__table__  # type: ignore[attr-defined]
    events = HandoffEvent.__table__.c  # type: ignore[attr-defined]
    found = session.execute(union_all(
        rows(0, inbound.id, inbound.conversation_id).where(relevant(inbound.conversation_id)),
        rows(1, outbox.id, outbox.conversation_id).where(relevant(outbox.conversation_id)),
        rows(2, reports.c.id, outbox.conversation_id)
        .select_from(reports.join(OutboxMessage.__table__,  # type: ignore[attr-defined]
                                  reports.c.provider_id == outbox.provider_id))
        .where(relevant(outbox.conversation_id)),
        rows(3, events.id, events.conversation_id, acted=True))).all()
    fresh = reported.first_time((row.source, row.row_id) for row in found)
    reported.forget_below(new)
    touched = [row for row in found if (row.source, row.row_id) in fresh]
    return Change(frozenset(row.cid for row in touched),
                  new[4:] != old[4:] or any(bool(row.queue) for row in touched))


class HandoffFeed:
    """Polls for changes while consoles listen, and tells each of them."""

    def __init__(self, store: Store, *, poll_interval: float = 1.0) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self._subscribers: set[Subscription] = set()
        self._cursor: Cursor | None = None
        self._reported = Reported()
        self._looking = asyncio.Lock()
        """One look at a time: each starts where the last one ended."""
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
            await self.look()  # changes count from now: what is written after this is reported
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
        """Read the cursor and the rows below it and tell the subscribers what changed; the
        first look after nobody listened only notes where things stand."""
        async with self._looking:
            if not self._subscribers:
                self._cursor, self._reported = None, Reported()  # start again from now
                return
            change = await self._read_change()
        if change is None or not (change.conversations or change.queue):
            return
        for subscription in list(self._subscribers):
            if change.queue or change.conversations & subscription.watching:
                subscription.changes.put_nowait(change)

    async def _read_change(self) -> Change | None:
        """What changed since the last look (``None`` at the first one), and move the cursor."""
        watching = frozenset().union(*(s.watching for s in self._subscribers))
        old, reported = self._cursor, self._reported

        def read(session: Session) -> tuple[Cursor, Change]:
            new = read_cursor(session)
            return new, changes_between(session, old or new, new, watching, reported)

        self._cursor, change = await self.store.read(read)
        return None if old is None else change
