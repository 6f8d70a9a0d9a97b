"""Claiming due jobs among a million scheduled ones.

    python -m bench.scheduler [--jobs 1000000] [--due 1000]
                              [--postgres postgresql://postgres@127.0.0.1:5432/test]

Fills the job table of a fresh database (an SQLite file, or with ``--postgres`` a database made
next to the one given and dropped afterwards) with ``--jobs`` pending jobs (``--due`` of them
due now, the rest spread over the next 90 days), then times ``claim_jobs`` taking the due ones,
several times. Target: < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update

from bench.databases import drop_database, fresh_database
from bot.scheduler import JOBS, claim_jobs
from bot.store.database import Store
from bot.store.migrate import upgrade


def fill(store: Store, total: int, due: int, now: datetime) -> None:
    chunk = 50_000
    for start in range(0, total, chunk):
        rows = [{"kind": "bench", "key": f"bench:{n}", "payload": {}, "status": "pending",
                 "due_at": now - timedelta(seconds=1) if n < due
                 else now + timedelta(seconds=60 + (n * 7919) % (90 * 86400)),
                 "attempts": 0, "created_at": now}
                for n in range(start, min(total, start + chunk))]
        store.write_sync(lambda session, rows=rows: session.execute(insert(JOBS), rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="measure on PostgreSQL, in a database made next to this one")
    args = parser.parse_args()
    url = (fresh_database(args.postgres) if args.postgres
           else f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/jobs.db")
    try:
        measure(url, args)
    finally:
        if args.postgres:
            drop_database(args.postgres, url)


def measure(url: str, args: argparse.Namespace) -> None:
    """Fill ``url`` and time the claims."""
    upgrade(url)
    store = Store(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    fill(store, args.jobs, args.due, now)
    print(f"filled {args.jobs:,} jobs ({args.due:,} due) in {time.perf_counter() - started:.1f} s")
    timings = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        claimed = store.write_sync(
            lambda session: claim_jobs(session, now, args.due, timedelta(minutes=5)))
        timings.append((time.perf_counter() - started) * 1000)
        assert len(claimed) == args.due, len(claimed)
        # Put them back so every round claims from the same million.
        store.write_sync(lambda session, ids=claimed: session.execute(
            update(JOBS).where(JOBS.c.id.in_(ids)).values(status="pending", lease_until=None)))
    print(f"claim {args.due:,} due among {args.jobs:,}: median {statistics.median(timings):.1f} ms, "
          f"max {max(timings):.1f} ms over {args.rounds} rounds (target < 50 ms)")
    store.close()


if __name__ == "__main__":
    main()
