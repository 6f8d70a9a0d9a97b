"""How well the team answers: first response time, resolution time and satisfaction (CSAT),
per agent and overall, over the handoffs requested in a period.

- first response time: from the request to the agent's first message;
- resolution time: from the request to "resolved" (returned handoffs are counted apart);
- CSAT: the average 1–5 answer, and the share of 4s and 5s ("satisfied").
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.agent_context import queue_counts
from bot.store.models import Handoff

ALL_AGENTS = "*"
"""The ``agent`` of the overall figures."""
SATISFIED = 4
METRICS_WINDOW = timedelta(days=30)
"""The period ``/metrics`` reports on, and the API's default."""


@dataclass(frozen=True)
class Measures:
    """One agent's figures (or everyone's, ``agent == "*"``)."""

    agent: str
    handoffs: int
    resolved: int
    returned: int
    first_responses: int
    first_response_avg: float | None
    first_response_median: float | None
    resolution_avg: float | None
    resolution_median: float | None
    csat_responses: int
    csat_avg: float | None
    csat_satisfied_share: float | None

    def as_json(self) -> dict[str, Any]:
        """The API's shape (seconds, and CSAT on 1–5)."""
        return {
            "agent": self.agent, "handoffs": self.handoffs, "resolved": self.resolved,
            "returned": self.returned,
            "first_response_seconds": {"count": self.first_responses,
                                       "average": _round(self.first_response_avg),
                                       "median": _round(self.first_response_median)},
            "resolution_seconds": {"count": self.resolved, "average": _round(self.resolution_avg),
                                   "median": _round(self.resolution_median)},
            "csat": {"responses": self.csat_responses, "average": _round(self.csat_avg, 2),
                     "satisfied_share": _round(self.csat_satisfied_share, 3)},
        }


@dataclass(frozen=True)
class SupportReport:
    """The figures for a period, with what is open right now."""

    since: datetime
    until: datetime
    overall: Measures
    by_agent: list[Measures]
    waiting: int
    with_agent: int

    def as_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                "open": {"waiting": self.waiting, "with_agent": self.with_agent},
                "overall": self.overall.as_json(),
                "agents": [measures.as_json() for measures in self.by_agent]}


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _average(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def measure(agent: str, records: Iterable[Handoff]) -> Measures:
    """The figures over some handoff records."""
    records = list(records)
    first = [(r.first_response_at - r.requested_at).total_seconds()
             for r in records if r.first_response_at is not None]
    resolved = [r for r in records if r.outcome == "resolved" and r.closed_at is not None]
    resolution = [(r.closed_at - r.requested_at).total_seconds() for r in resolved]  # type: ignore[operator]
    scores = [r.csat for r in records if r.csat is not None]
    return Measures(
        agent=agent, handoffs=len(records), resolved=len(resolved),
        returned=sum(1 for r in records if r.outcome == "returned"),
        first_responses=len(first), first_response_avg=_average(first),
        first_response_median=_median(first), resolution_avg=_average(resolution),
        resolution_median=_median(resolution), csat_responses=len(scores),
        csat_avg=_average(scores),
        csat_satisfied_share=(sum(1 for s in scores if s >= SATISFIED) / len(scores)
                              if scores else None))


def summarize(records: Sequence[Handoff], since: datetime, until: datetime, *, waiting: int = 0,
              with_agent: int = 0) -> SupportReport:
    """Overall and per-agent figures; a handoff nobody took counts only overall."""
    agents: dict[str, list[Handoff]] = {}
    for record in records:
        if record.agent:
            agents.setdefault(record.agent, []).append(record)
    return SupportReport(since, until, measure(ALL_AGENTS, records),
                         [measure(agent, agents[agent]) for agent in sorted(agents)],
                         waiting, with_agent)


def support_report(session: Session, since: datetime, until: datetime) -> SupportReport:
    """The figures for handoffs requested in [since, until), and the queue now."""
    records = list(session.scalars(select(Handoff).where(Handoff.requested_at >= since,
                                                         Handoff.requested_at < until)))
    counts = queue_counts(session)
    return summarize(records, since, until, waiting=counts["waiting"],
                     with_agent=counts["with_agent"])
