"""The retention report for a date range: why customers cancel, which offers were shown and
taken for each reason, saves, pauses and resumes, and how failed payments were recovered."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from statistics import mean, median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.retention import Kind, Reason
from bot.store.models import DunningEpisode, RetentionEvent


def retention_report(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Everything recorded in ``[start, end)``."""
    counts = session.execute(
        select(RetentionEvent.kind, RetentionEvent.reason, RetentionEvent.offer, func.count())
        .where(RetentionEvent.at >= start, RetentionEvent.at < end)
        .group_by(RetentionEvent.kind, RetentionEvent.reason, RetentionEvent.offer)).all()
    return {
        "from": start.isoformat(), "to": end.isoformat(),
        "cancellations": _cancellations(counts),
        "offers": _offers(counts),
        "pauses": {"started": _total(counts, Kind.PAUSED), "resumed_early": _total(counts, Kind.RESUMED)},
        "win_back": {"resubscribed": _total(counts, Kind.RESUBSCRIBED)},
        "dunning": _dunning(session, start, end),
    }


def _total(counts: list[Any], kind: str) -> int:
    return sum(n for k, _, _, n in counts if k == kind)


def _cancellations(counts: list[Any]) -> dict[str, Any]:
    by_reason: dict[str, dict[str, Any]] = {
        reason: {"chosen": 0, "offers_shown": defaultdict(int), "offers_accepted": defaultdict(int),
                 "saved": 0, "canceled": 0} for reason in Reason.ALL}
    for kind, reason, offer, n in counts:
        if reason not in by_reason:
            continue
        row = by_reason[reason]
        if kind == Kind.REASON:
            row["chosen"] += n
        elif kind == Kind.OFFER_SHOWN:
            row["offers_shown"][offer] += n
        elif kind == Kind.OFFER_ACCEPTED:
            row["offers_accepted"][offer] += n
            row["saved"] += n
        elif kind == Kind.CANCELED:
            row["canceled"] += n
    return {
        "started": _total(counts, Kind.CANCEL_STARTED),
        "canceled": _total(counts, Kind.CANCELED),
        "saved": sum(row["saved"] for row in by_reason.values()),
        "by_reason": {reason: {**row, "offers_shown": dict(row["offers_shown"]),
                               "offers_accepted": dict(row["offers_accepted"])}
                      for reason, row in by_reason.items()},
    }


def _offers(counts: list[Any]) -> dict[str, dict[str, int]]:
    offers: dict[str, dict[str, int]] = defaultdict(lambda: {"shown": 0, "accepted": 0,
                                                            "declined": 0})
    names = {Kind.OFFER_SHOWN: "shown", Kind.OFFER_ACCEPTED: "accepted",
             Kind.OFFER_DECLINED: "declined"}
    for kind, _, offer, n in counts:
        if kind in names and offer:
            offers[offer][names[kind]] += n
    return dict(offers)


def _dunning(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Episodes opened in the range, and how (and how fast) they ended."""
    episodes = session.execute(
        select(DunningEpisode.status, DunningEpisode.opened_at, DunningEpisode.closed_at)
        .where(DunningEpisode.opened_at >= start, DunningEpisode.opened_at < end)).all()
    hours = [(closed - opened).total_seconds() / 3600
             for status, opened, closed in episodes if status == "recovered" and closed]
    opened = len(episodes)
    return {
        "opened": opened,
        "recovered": len(hours),
        "lapsed": sum(1 for status, _, _ in episodes if status == "lapsed"),
        "open": sum(1 for status, _, _ in episodes if status == "open"),
        "recovery_rate": round(len(hours) / opened, 4) if opened else None,
        "hours_to_recovery": {"median": round(median(hours), 2), "mean": round(mean(hours), 2)}
        if hours else None,
    }
