"""The store: migrations match the models, times stay UTC, conversation locks serialize."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from bot.store.database import Store, build_engine, lock_conversations
from bot.store.migrate import alembic_config, upgrade
from bot.store.models import Contact


def test_migrations_match_the_models(database_url: str) -> None:
    """Running every migration yields exactly the schema the models declare."""
    engine = build_engine(database_url, pool_size=1)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diffs == []


def test_migrations_downgrade_and_upgrade_again(database_url: str) -> None:
    """Every migration can be undone and redone."""
    command.downgrade(alembic_config(database_url), "base")
    upgrade(database_url)
    engine = build_engine(database_url, pool_size=1)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    engine.dispose()


def test_times_are_stored_and_returned_in_utc(database_url: str) -> None:
    """A time in any zone comes back as the same instant in UTC; a naive time is refused."""
    store = Store(database_url)
    lisbon_summer = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    store.write_sync(lambda s: s.add(Contact(channel="sms", address="+351912345678",
                                             created_at=lisbon_summer)))
    contact = store.read_sync(lambda s: s.get(Contact, 1))
    assert contact.created_at == lisbon_summer
    assert contact.created_at.tzinfo == UTC
    with pytest.raises(Exception, match="naive"):
        store.write_sync(lambda s: s.add(Contact(channel="sms", address="+351912345679",
                                                 created_at=datetime(2026, 7, 1))))
    store.close()


@pytest.mark.postgres
def test_conversation_lock_serializes_transactions(postgres_url: str) -> None:
    """While one transaction holds a conversation, another waits for it, and a different
    conversation is not blocked."""
    store = Store(postgres_url)
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first(session):
        lock_conversations(session, ["sms:+14155550100"])
        holding.set()
        release.wait(5)
        order.append("first done")

    def second(session):
        lock_conversations(session, ["sms:+14155550100"])
        order.append("second locked")

    def other(session):
        lock_conversations(session, ["sms:+14155550199"])
        order.append("other locked")

    t1 = threading.Thread(target=store.write_sync, args=(first,))
    t1.start()
    assert holding.wait(5)
    t2 = threading.Thread(target=store.write_sync, args=(second,))
    t2.start()
    store.write_sync(other)
    t2.join(0.3)
    assert order == ["other locked"]  # the same conversation is still waiting
    release.set()
    t1.join(5)
    t2.join(5)
    assert order == ["other locked", "first done", "second locked"]
    store.close()
