"""The scheduler: jobs are rows with a due time; a claim reads only what is due.

No timers live in memory, so a restart loses nothing. A job runs in its own transaction
with its effects; if the process dies mid-job, the lease runs out and the job runs again —
handlers are idempotent through business keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.store.database import Store
from bot.store.inserts import insert_ignoring_duplicates
from bot.store.models import Job

log = logging.getLogger(__name__)
JOBS = Job.__table__  # type: ignore[attr-defined]

JobHandler = Callable[[Session, Job, datetime], None]
"""Runs a job inside its transaction (on a store thread)."""


@dataclass
class ScheduledJob:
    """Work to do later (a resume-day message, a dunning step…)."""

    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]


def schedule_jobs(session: Session, jobs: Iterable[ScheduledJob], now: datetime) -> None:
    """Insert ``jobs`` as pending; a key already scheduled keeps its job (so twice is a no-op)."""
    rows = [{"kind": job.kind, "key": job.key, "payload": job.payload, "status": "pending",
             "due_at": job.due_at, "attempts": 0, "created_at": now} for job in jobs]
    if rows:
        session.execute(insert_ignoring_duplicates(session, Job, ["key"]), rows)


class RunLater(Exception):
    """A handler's "not now": the job waits until ``at`` again, and no failure is counted (the
    handler's changes, if any, are rolled back)."""

    def __init__(self, at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason


def claim_jobs(session: Session, now: datetime, limit: int, lease: timedelta) -> list[int]:
    """Mark up to ``limit`` due jobs (and jobs whose lease ran out) as running; return their ids."""
    due = (select(JOBS.c.id).where(JOBS.c.status == "pending", JOBS.c.due_at <= now)
           .order_by(JOBS.c.due_at).limit(limit))
    stale = (select(JOBS.c.id).where(JOBS.c.status == "running", JOBS.c.lease_until < now)
             .limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
        stale = stale.with_for_update(skip_locked=True)
    ids = list(session.scalars(due).all()) + list(session.scalars(stale).all())
    if ids:
        session.execute(update(JOBS).where(JOBS.c.id.in_(ids)).values(
            status="running", lease_until=now + lease, attempts=JOBS.c.attempts + 1))
    return ids


class Scheduler:
    """Runs due jobs through the handler registered for their kind."""

    def __init__(self, store: Store, clock: Clock, handlers: dict[str, JobHandler], *,
                 batch_size: int = 100, lease: timedelta = timedelta(minutes=5),
                 poll_interval: float = 1.0, max_attempts: int = 5) -> None:
        self.store = store
        self.clock = clock
        self.handlers = handlers
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts

    async def run(self, stop: asyncio.Event) -> None:
        """Run due jobs until ``stop`` is set."""
        while not stop.is_set():
            try:
                ran = await self.run_due()
            except Exception:
                log.exception("scheduler pass failed; retrying")
                ran = 0
            if ran == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    async def run_due(self) -> int:
        """Claim and run one batch of due jobs; returns how many were claimed."""
        now = self.clock.now()
        ids = await self.store.write(
            lambda session: claim_jobs(session, now, self.batch_size, self.lease))
        for job_id in ids:
            await self._run_one(job_id)
        return len(ids)

    async def _run_one(self, job_id: int) -> None:
        try:
            await self.store.write(lambda session: self._execute(session, job_id))
        except RunLater as later:
            waiting = later  # the except name does not outlive the block; the lambda needs it
            await self.store.write(lambda session: self._later(session, job_id, waiting))
        except Exception as error:
            log.exception("job failed", extra={"job_id": job_id})
            reason = repr(error)[:500]
            await self.store.write(lambda session: self._failed(session, job_id, reason))

    def _execute(self, session: Session, job_id: int) -> None:
        job = session.get(Job, job_id)
        if job is None or job.status != "running":
            return
        handler = self.handlers.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        handler(session, job, self.clock.now())
        job.status = "done"
        job.lease_until = None

    @staticmethod
    def _later(session: Session, job_id: int, later: RunLater) -> None:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.status, job.due_at, job.lease_until = "pending", later.at, None
        job.attempts = max(job.attempts - 1, 0)  # waiting is not an attempt
        job.last_error = f"waiting: {later.reason}"[:500]

    def _failed(self, session: Session, job_id: int, reason: str) -> None:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.last_error = reason
        job.lease_until = None
        if job.attempts >= self.max_attempts:
            job.status = "failed"
        else:
            job.status = "pending"
            job.due_at = self.clock.now() + timedelta(seconds=30 * 2 ** job.attempts)
