"""The database engine and the threads every store operation runs on.

All database work is synchronous SQLAlchemy, run off the event loop: one writer thread for SQLite
(it has a single writer anyway), a few lanes for PostgreSQL. A caller hands a whole unit of work
(a function of a Session) to ``Store.write``/``Store.read`` and awaits it once, never per statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Map ``postgres://``/``postgresql://`` to the psycopg 3 driver SQLAlchemy should use."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_sqlite(url: str) -> bool:
    """Whether the URL names an SQLite database."""
    return url.startswith("sqlite")


def build_engine(url: str, *, immediate: bool = True, pool_size: int = 5) -> Engine:
    """Create the engine with the per-backend settings the service relies on.

    SQLite: WAL, ``synchronous=NORMAL``, a busy timeout, foreign keys, and — for the writer
    engine — ``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a read lock.
    """
    url = normalize_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=0,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's "begin" event (below) issue BEGIN instead of pysqlite.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _sqlite_on_begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql(begin)

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def lock_key(conversation_key: str) -> int:
    """A stable signed 64-bit key for a conversation's PostgreSQL advisory lock."""
    digest = hashlib.blake2b(conversation_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_conversations(session: Session, conversation_keys: Iterable[str]) -> None:
    """Hold each conversation's lock until the transaction ends.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two batches never
    deadlock. SQLite: the writer's ``BEGIN IMMEDIATE`` already serializes writers.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({lock_key(key) for key in conversation_keys})
    if keys:
        session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
            {"keys": keys},
        )


@dataclass
class _Lane:
    executor: ThreadPoolExecutor


class Store:
    """Runs units of work on the store's threads, each in one transaction."""

    def __init__(self, url: str, *, lanes: int | None = None) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = is_sqlite(self.url)
        lane_count = 1 if self.is_sqlite else (lanes or 4)
        self.writer = build_engine(self.url, immediate=True, pool_size=lane_count + 2)
        # SQLite readers use a plain BEGIN so a console page never waits behind the writer.
        self.reader = (
            build_engine(self.url, immediate=False, pool_size=2) if self.is_sqlite else self.writer
        )
        self._write_sessions = sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.reader, expire_on_commit=False)
        self._lanes = [
            _Lane(ThreadPoolExecutor(1, thread_name_prefix=f"store-lane-{i}"))
            for i in range(lane_count)
        ]
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="store-read")

    @property
    def lane_count(self) -> int:
        """How many transactions may write at once from this process."""
        return len(self._lanes)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.writer.dialect.name

    def lane_for(self, conversation_key: str) -> int:
        """The lane a conversation's work always runs on, which keeps its messages in order."""
        return lock_key(conversation_key) % len(self._lanes)

    def write_sync(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction on the calling thread (CLI, tests, the lanes)."""
        with self._write_sessions() as session, session.begin():
            return work(session)

    def read_sync(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one read transaction on the calling thread."""
        with self._read_sessions() as session, session.begin():
            return work(session)

    async def write(self, work: Callable[[Session], T], *, lane: int = 0) -> T:
        """Run ``work`` in one write transaction on a lane's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._lanes[lane].executor, self.write_sync, work)

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one read-only transaction on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, work)

    async def ping(self) -> None:
        """Raise unless the database answers."""
        await self.read(lambda session: session.execute(text("SELECT 1")).scalar_one())

    def close(self) -> None:
        """Stop the threads and release connections."""
        for lane in self._lanes:
            lane.executor.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def describe_url(url: str) -> str:
    """The URL without its password, for logs."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)
