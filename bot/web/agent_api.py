"""The agents' JSON API: the same powers as the console — the queue, a conversation's context,
claim, reply, note, resolve — with the bearer token or an agent's session (plus CSRF header);
and the support report for operators. Refusals are JSON ``{"error": reason, …}`` with a 4xx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from bot.accounts import Role
from bot.agent_context import conversation_context, open_handoffs
from bot.agent_desk import DeskError
from bot.processor import locale_for
from bot.services import Services
from bot.store.models import OutboxMessage
from bot.support_report import METRICS_WINDOW, support_report
from bot.web.auth import api
from bot.web.json_body import json_body
from bot.web.keys import SERVICES

T = TypeVar("T")
API_AGENT = "api"
"""Who acted, for a bearer-token call that does not say (``{"agent": "ana@example.com"}``)."""
MAX_REPORT_DAYS = 366
MAX_ID = 2**31 - 1


def error(status: int, reason: str, **details: Any) -> web.Response:
    """A JSON refusal."""
    return web.json_response({"error": reason, **details}, status=status)


def acting_agent(request: web.Request, body: dict[str, Any]) -> str:
    """The signed-in agent, or for the bearer token the body's ``agent`` (else "api")."""
    viewer = request.get("viewer")
    if viewer is not None:
        return viewer.email
    agent = body.get("agent", API_AGENT)
    if not isinstance(agent, str) or not 0 < len(agent.strip()) <= 254 or "\x00" in agent:
        raise DeskError(422, "agent must be a name or email of at most 254 characters")
    return agent.strip()


def text_field(body: dict[str, Any], name: str) -> str:
    """A text field of the body ("" when absent)."""
    value = body.get(name, "")
    if not isinstance(value, str):
        raise DeskError(422, f"{name} must be text")
    return value


def desk_action(handler: Callable[[web.Request], Awaitable[web.Response]]
                ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A view that acts at the desk: what the desk refuses is answered as a JSON refusal."""

    @wraps(handler)
    async def answered(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except DeskError as refused:
            return error(refused.status, refused.reason, **refused.details)

    return answered


async def act(services: Services, work: Callable[[Session], T]) -> T:
    """Run a desk action in one transaction, then tell the consoles."""
    result = await services.store.write(work)
    services.feed.poke()
    return result


def message_json(row: OutboxMessage) -> dict[str, Any]:
    """An agent's queued message as the API shows it."""
    return {"id": row.id, "business_key": row.business_key, "body": row.body,
            "template": row.template, "kind": row.kind, "status": row.status,
            "reason": row.status_reason, "due_at": row.due_at.isoformat()}


def conversation_id(request: web.Request) -> int:
    """The conversation id in the path (404 beyond what an id can be)."""
    value = int(request.match_info["conversation_id"])
    if value > MAX_ID:
        raise web.HTTPNotFound(text=f"there is no conversation {value}\n")
    return value


@api(Role.AGENT)
async def list_handoffs(request: web.Request) -> web.Response:
    """GET /api/handoffs — conversations with the team, oldest request first."""
    services = request.app[SERVICES]
    items = await services.store.read(open_handoffs)
    now = services.clock.now()
    return web.json_response({"handoffs": [item.as_json(now) for item in items]})


@api(Role.AGENT)
async def show_conversation(request: web.Request) -> web.Response:
    """GET /api/conversations/{id} — everything the console shows about a conversation."""
    services = request.app[SERVICES]
    wanted, now = conversation_id(request), services.clock.now()

    def read(session: Session) -> dict[str, Any] | None:
        context = conversation_context(
            session, wanted, now, services.config.current(session),
            lambda contact: locale_for(contact, services.settings.default_locale),
            services.context_providers)
        return None if context is None else context.as_json()

    found = await services.store.read(read)
    if found is None:
        return error(404, f"there is no conversation {wanted}")
    return web.json_response(found)


@api(Role.AGENT)
@desk_action
async def claim(request: web.Request) -> web.Response:
    """POST /api/conversations/{id}/claim — take a waiting conversation (409 if someone has it)."""
    services, wanted = request.app[SERVICES], conversation_id(request)
    agent = acting_agent(request, await json_body(request))
    conversation = await act(services, lambda session: services.desk.claim(
        session, wanted, agent, services.clock.now()))
    return web.json_response({"conversation_id": conversation.id, "state": conversation.state,
                              "agent": conversation.data.get("agent")})


@api(Role.AGENT)
@desk_action
async def send_message(request: web.Request) -> web.Response:
    """POST /api/conversations/{id}/messages — ``{"text": …}`` or ``{"template": key}``, with an
    optional ``"id"`` that makes a retry return the same message. 201 when queued (its gate
    status included), 200 for a retry, 409 when the gate would hold or drop it."""
    services, wanted = request.app[SERVICES], conversation_id(request)
    body = await json_body(request)
    agent = acting_agent(request, body)
    template = body.get("template")
    client_key = body.get("id")
    if template is not None and not isinstance(template, str):
        raise DeskError(422, "template must be a message key like handoff.follow_up")
    if client_key is not None and not isinstance(client_key, str):
        raise DeskError(422, "id must be text")
    text = text_field(body, "text")
    row, created = await act(services, lambda session: services.desk.reply(
        session, wanted, agent, services.clock.now(), text=text,
        template=template, client_key=client_key))
    return web.json_response({"message": message_json(row)}, status=201 if created else 200)


@api(Role.AGENT)
@desk_action
async def add_note(request: web.Request) -> web.Response:
    """POST /api/conversations/{id}/notes — ``{"text": …}``, for the team only."""
    services, wanted = request.app[SERVICES], conversation_id(request)
    body = await json_body(request)
    agent, text = acting_agent(request, body), text_field(body, "text")
    note = await act(services, lambda session: services.desk.add_note(
        session, wanted, agent, services.clock.now(), text=text))
    return web.json_response({"note": {"id": note.id, "agent": note.agent, "text": note.text,
                                       "at": note.at.isoformat()}}, status=201)


@api(Role.AGENT)
@desk_action
async def resolve(request: web.Request) -> web.Response:
    """POST /api/conversations/{id}/resolve — close the handoff; the bot takes over again."""
    services, wanted = request.app[SERVICES], conversation_id(request)
    agent = acting_agent(request, await json_body(request))
    record = await act(services, lambda session: services.desk.resolve(
        session, wanted, agent, services.clock.now()))
    return web.json_response({"conversation_id": record.conversation_id, "handoff_id": record.id,
                              "agent": record.agent, "outcome": record.outcome,
                              "closed_at": record.closed_at.isoformat() if record.closed_at else None})


def parse_moment(value: str, name: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC when it names no zone)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DeskError(422, f"{name} must be an ISO date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@api(Role.OPERATOR)
async def support(request: web.Request) -> web.Response:
    """GET /api/reports/support[?since=…&until=…] — first response, resolution and CSAT, per
    agent and overall, for handoffs requested in the period (default: the last 30 days)."""
    services = request.app[SERVICES]
    try:
        until = parse_moment(request.query["until"], "until") if "until" in request.query \
            else services.clock.now()
        since = parse_moment(request.query["since"], "since") if "since" in request.query \
            else until - METRICS_WINDOW
        if since >= until:
            raise DeskError(422, "since must be before until")
        if until - since > timedelta(days=MAX_REPORT_DAYS):
            raise DeskError(422, f"a report covers at most {MAX_REPORT_DAYS} days")
    except DeskError as refused:
        return error(refused.status, refused.reason)
    report = await services.store.read(lambda session: support_report(session, since, until))
    return web.json_response(report.as_json())


def setup_agent_api_routes(app: web.Application) -> None:
    """Mount the agents' API and the support report."""
    conversation = "/api/conversations/{conversation_id:\\d+}"
    app.router.add_get("/api/handoffs", list_handoffs)
    app.router.add_get(conversation, show_conversation)
    app.router.add_post(f"{conversation}/claim", claim)
    app.router.add_post(f"{conversation}/messages", send_message)
    app.router.add_post(f"{conversation}/notes", add_note)
    app.router.add_post(f"{conversation}/resolve", resolve)
    app.router.add_get("/api/reports/support", support)
