"""The scheduler: due jobs only, each run once, failures retried then given up, leases recovered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.scheduler import ScheduledJob, Scheduler, claim_jobs, schedule_jobs
from bot.store.database import Store
from bot.store.models import Job


def _schedule(store: Store, clock, *jobs: tuple[str, str, timedelta]) -> None:
    now = clock.now()
    store.write_sync(lambda session: schedule_jobs(session, [
        ScheduledJob(kind, key, now + delay, {"n": key}) for kind, key, delay in jobs], now))


def _jobs(store: Store) -> dict[str, Job]:
    return store.read_sync(lambda s: {j.key: j for j in s.scalars(select(Job))})


async def test_runs_due_jobs_once_and_leaves_future_ones(database_url, clock) -> None:
    """Only what is due runs; a key scheduled twice is one job; done jobs do not run again."""
    store = Store(database_url)
    ran: list[str] = []
    scheduler = Scheduler(store, clock, {"note": lambda s, job, now: ran.append(job.key)})
    _schedule(store, clock, ("note", "a", timedelta(0)), ("note", "b", timedelta(hours=1)),
              ("note", "a", timedelta(0)))
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0
    clock.advance(hours=1)
    assert await scheduler.run_due() == 1
    assert ran == ["a", "b"]
    assert {k: j.status for k, j in _jobs(store).items()} == {"a": "done", "b": "done"}
    store.close()


async def test_failing_job_is_retried_with_backoff_then_given_up(database_url, clock) -> None:
    """A handler that raises leaves its job pending for later, and failed after max attempts."""
    store = Store(database_url)
    calls: list[int] = []

    def broken(session, job, now):
        calls.append(job.attempts)
        raise RuntimeError("billing backend down")

    scheduler = Scheduler(store, clock, {"charge": broken}, max_attempts=3)
    _schedule(store, clock, ("charge", "x", timedelta(0)))
    await scheduler.run_due()
    job = _jobs(store)["x"]
    assert (job.status, job.attempts) == ("pending", 1)
    assert "billing backend down" in job.last_error
    assert job.due_at > clock.now()
    for _ in range(2):
        clock.set(_jobs(store)["x"].due_at)
        await scheduler.run_due()
    assert _jobs(store)["x"].status == "failed"
    assert calls == [1, 2, 3]
    store.close()


async def test_job_of_a_dead_worker_runs_again_after_its_lease(database_url, clock) -> None:
    """A job claimed by a worker that died is picked up once its lease runs out."""
    store = Store(database_url)
    ran: list[str] = []
    _schedule(store, clock, ("note", "a", timedelta(0)))
    assert store.write_sync(lambda s: claim_jobs(s, clock.now(), 10, timedelta(minutes=5)))
    scheduler = Scheduler(store, clock, {"note": lambda s, job, now: ran.append(job.key)})
    assert await scheduler.run_due() == 0
    clock.advance(minutes=6)
    assert await scheduler.run_due() == 1
    assert ran == ["a"]
    store.close()


async def test_a_handler_may_ask_to_run_later(database_url, clock) -> None:
    """RunLater puts the job back until the given time, rolls its changes back and counts no
    attempt; it runs for real afterwards."""
    from bot.scheduler import RunLater

    store = Store(database_url)
    runs: list[str] = []

    def busy_then_free(session, job, now):
        session.add(Job(kind="side", key=f"side-effect:{len(runs)}", payload={}, due_at=now,
                        created_at=now))
        runs.append("tried")
        if len(runs) == 1:
            raise RunLater(now + timedelta(minutes=30), "the customer is busy")

    scheduler = Scheduler(store, clock, {"note": busy_then_free}, max_attempts=1)
    _schedule(store, clock, ("note", "a", timedelta(0)))
    await scheduler.run_due()
    job = _jobs(store)["a"]
    assert (job.status, job.attempts, job.last_error) == ("pending", 0,
                                                          "waiting: the customer is busy")
    assert job.due_at == clock.now() + timedelta(minutes=30)
    assert "side-effect:0" not in _jobs(store)  # rolled back
    assert await scheduler.run_due() == 0
    clock.advance(minutes=30)
    await scheduler.run_due()
    assert _jobs(store)["a"].status == "done" and runs == ["tried", "tried"]
    store.close()
