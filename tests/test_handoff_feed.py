"""The console's live feed against a real database: rows committed out of id order, reported
once each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.handoff_feed import LOOK_BACK, Change, HandoffFeed, Reported
from bot.store.models import Contact, Conversation, InboundMessage
from tests.conftest import live_settings

WORKING = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
FIRST, SECOND = "+14155550100", "+14155550101"


def _drain(subscription) -> list[Change]:
    changes = []
    while not subscription.changes.empty():
        changes.append(subscription.changes.get_nowait())
    return changes


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
async def test_a_message_committed_after_a_higher_numbered_one_is_still_reported(
        make_bot, database_url, twilio, clock):
    """On PostgreSQL a row's id is taken at insert and seen at commit: a customer message
    numbered below one already reported, committed later, still reaches the console, once."""
    _, base = twilio
    clock.set(WORKING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await bot.message(FIRST, "talk to a person")
    await bot.message(SECOND, "talk to a person")
    ids = await services.store.read(lambda s: dict(s.execute(
        select(Contact.address, Conversation.id).join(Conversation,
                                                      Conversation.contact_id == Contact.id)).all()))
    feed = HandoffFeed(services.store, poll_interval=3600)
    async with feed.subscribe([ids[FIRST]]) as subscription:
        await feed.look()
        slow = Session(services.store.writer)  # a transaction still open while another commits
        slow.add(InboundMessage(provider_id="SM" + "1" * 32, conversation_id=ids[FIRST],
                                channel="sms", body="are you there?", received_at=WORKING))
        slow.flush()
        try:
            await bot.message(SECOND, "hello?")
            await feed.look()
            assert [c.conversations for c in _drain(subscription)] == [frozenset({ids[SECOND]})]
            slow.commit()
        finally:
            slow.close()
        await feed.look()
        assert [c.conversations for c in _drain(subscription)] == [frozenset({ids[FIRST]})]
        await feed.look()
        assert _drain(subscription) == []


def test_the_memory_of_reported_rows_keeps_only_what_can_be_read_again():
    """A row is new once; once the cursor is past it by the look-back it is forgotten."""
    reported = Reported()
    assert reported.first_time([(0, 5), (3, 5)]) == {(0, 5), (3, 5)}
    assert reported.first_time([(0, 5), (0, 6)]) == {(0, 6)}
    reported.forget_below((5 + LOOK_BACK, 0, 0, 0))
    assert reported.first_time([(0, 5), (0, 6), (3, 5)]) == {(0, 5)}
