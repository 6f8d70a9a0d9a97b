"""Liveness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from bot.store.models import ConsoleUser, Job, OutboxMessage
from bot.support_report import METRICS_WINDOW, support_report
from bot.web.keys import SERVICES


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz — 200 when the database answers, 503 otherwise."""
    services = request.app[SERVICES]
    try:
        await services.store.ping()
    except Exception as error:
        return web.json_response({"status": "down", "database": type(error).__name__}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics — Prometheus text format, with the outbox depth read at scrape time."""
    services = request.app[SERVICES]

    def depth(session):  # type: ignore[no-untyped-def]
        by_status = dict(session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
        pending = session.scalar(select(func.count()).where(Job.status == "pending"))
        return by_status, pending

    by_status, pending = await services.store.read(depth)
    for status in ("queued", "sending", "sent", "delivered", "read", "failed", "undelivered",
                   "dropped", "held"):
        services.metrics.outbox_depth.labels(status).set(by_status.get(status, 0))
    services.metrics.jobs_due.set(pending or 0)
    now = services.clock.now()

    def support(session):  # type: ignore[no-untyped-def]
        agent_ids = dict(session.execute(select(ConsoleUser.email, ConsoleUser.id)).all())
        return support_report(session, now - METRICS_WINDOW, now), agent_ids

    services.metrics.record_support(*await services.store.read(support))
    body = generate_latest(services.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
