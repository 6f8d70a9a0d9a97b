"""The business's API (bearer token): events in, a customer's state and the retention report out."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from bot.config import FieldProblem
from bot.customer_state import customer_state
from bot.event_intake import EventConflict
from bot.events import EventInvalid, parse_event
from bot.retention_report import retention_report
from bot.web.auth import api
from bot.web.keys import SERVICES

DEFAULT_REPORT_DAYS = 30


def _problems(problems: list[FieldProblem], status: int = 422) -> web.Response:
    return web.json_response(
        {"errors": [{"field": p.field, "reason": p.reason} for p in problems]}, status=status)


@api()
async def post_event(request: web.Request) -> web.Response:
    """POST /api/events — a business event; 202 once accepted (again for a repeated id)."""
    services = request.app[SERVICES]
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON\n") from None
    try:
        event = parse_event(body)
    except EventInvalid as invalid:
        return _problems(invalid.problems)
    now = services.clock.now()
    try:
        outcome = await services.store.write(
            lambda session: services.events.accept(session, event, body, now),
            lane=services.store.lane_for(f"customer:{event.customer_id}"))
    except EventInvalid as invalid:
        return _problems(invalid.problems)
    except EventConflict as conflict:
        return _problems([FieldProblem("id", str(conflict))], status=409)
    services.sender.notify()
    return web.json_response({"id": event.id, "status": outcome}, status=202)


@api()
async def get_customer(request: web.Request) -> web.Response:
    """GET /api/customers/{id} — subscription, consent ledger, open episodes, messages."""
    services = request.app[SERVICES]
    customer_id = request.match_info["customer_id"]
    now = services.clock.now()
    state = await services.store.read(lambda session: customer_state(session, customer_id, now))
    if state is None:
        raise web.HTTPNotFound(text=f"no customer {customer_id!r}\n")
    return web.json_response(state)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a date like 2026-11-01\n") from None


@api()
async def get_retention_report(request: web.Request) -> web.Response:
    """GET /api/reports/retention?from=YYYY-MM-DD&to=YYYY-MM-DD — both days included (UTC);
    the last 30 days by default."""
    services = request.app[SERVICES]
    last = _day(request.query.get("to"), "to") or services.clock.now().date()
    first = _day(request.query.get("from"), "from") or last - timedelta(days=DEFAULT_REPORT_DAYS - 1)
    if first > last:
        raise web.HTTPBadRequest(text="from must not be after to\n")
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    report = await services.store.read(lambda session: retention_report(session, start, end))
    return web.json_response(report)


def setup_business_routes(app: web.Application) -> None:
    app.router.add_post("/api/events", post_event)
    app.router.add_get("/api/customers/{customer_id}", get_customer)
    app.router.add_get("/api/reports/retention", get_retention_report)
