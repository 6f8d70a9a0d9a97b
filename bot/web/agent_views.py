"""The agent console (/agent): the queue, a conversation with its context, the forms to claim,
reply, note and resolve, and the event stream that keeps both pages live.

Pages render on the server; the forms work without JavaScript (post, then redirect back).
The event stream only says *what* changed; the page fetches the fresh fragment itself.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from bot.accounts import Role, viewer_for
from bot.agent_context import ConversationContext, conversation_context, open_handoffs
from bot.agent_desk import DeskError
from bot.logs import mask_address
from bot.processor import locale_for
from bot.web.agent_api import act, conversation_id
from bot.web.auth import console, session_token
from bot.web.keys import SERVICES
from bot.web.pages import render_page

KEEP_ALIVE_SECONDS = 15.0
KEEP_ALIVE = object()
"""Nothing changed for KEEP_ALIVE_SECONDS: the stream says it is alive."""
MAX_WATCHED = 20
"""How many conversations one event stream may watch (a page watches one)."""
MAX_ID_DIGITS = 18
"""Longer numbers are no conversation's id (and would not fit the database's integers)."""
NOTICES = {"claimed": "You have this conversation now.", "sent": "Message queued.",
           "noted": "Note added.", "resolved": "Resolved: the bot has the conversation again."}


def ago(moment: datetime | None, now: datetime) -> str:
    """How long ago, roughly ("4 min", "2 h 05 min", "3 d")."""
    if moment is None:
        return ""
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} d"


def _helpers(now: datetime) -> dict[str, Any]:
    return {"now": now, "ago": lambda moment: ago(moment, now),
            "masked": mask_address, "as_json": lambda value: json.dumps(value, ensure_ascii=False)}


async def _context(request: web.Request, wanted: int) -> ConversationContext:
    services = request.app[SERVICES]
    now = services.clock.now()

    def read(session: Session) -> ConversationContext | None:
        return conversation_context(
            session, wanted, now, services.config.current(session),
            lambda contact: locale_for(contact, services.settings.default_locale),
            services.context_providers)

    context = await services.store.read(read)
    if context is None:
        raise web.HTTPNotFound(text=f"there is no conversation {wanted}\n")
    return context


async def _conversation_page(request: web.Request, *, error: str | None = None,
                             status: int = 200, draft: str = "") -> web.Response:
    wanted = conversation_id(request)
    context = await _context(request, wanted)
    notice = NOTICES.get(request.query.get("done", ""))
    return render_page(request, "agent_conversation.html", status=status, c=context, error=error,
                       notice=None if error else notice, reply_key=secrets.token_urlsafe(12),
                       draft=draft, **_helpers(request.app[SERVICES].clock.now()))


@console(Role.AGENT)
async def queue_page(request: web.Request) -> web.Response:
    """GET /agent — the conversations waiting for a person, live."""
    services = request.app[SERVICES]
    items = await services.store.read(open_handoffs)
    return render_page(request, "agent_queue.html", items=items, **_helpers(services.clock.now()))


@console(Role.AGENT)
async def queue_rows(request: web.Request) -> web.Response:
    """GET /agent/queue — the queue's rows, for the page to refresh itself."""
    services = request.app[SERVICES]
    items = await services.store.read(open_handoffs)
    return render_page(request, "agent_queue_rows.html", items=items,
                       **_helpers(services.clock.now()))


@console(Role.AGENT)
async def conversation_page(request: web.Request) -> web.Response:
    """GET /agent/conversations/{id} — the conversation, its context and the agent's forms."""
    return await _conversation_page(request)


@console(Role.AGENT)
async def conversation_panel(request: web.Request) -> web.Response:
    """GET /agent/conversations/{id}/panel — the live part of the conversation page."""
    context = await _context(request, conversation_id(request))
    return render_page(request, "agent_conversation_panel.html", c=context,
                       reply_key=secrets.token_urlsafe(12),
                       **_helpers(request.app[SERVICES].clock.now()))


async def _form_action(request: web.Request, done: str, work: Any, *,
                       draft: str = "") -> web.Response:
    """Run a desk action from a form; back to the page, or the page with the refusal (and the
    agent's unsent text)."""
    services = request.app[SERVICES]
    try:
        await act(services, work)
    except DeskError as refused:
        return await _conversation_page(request, error=refused.reason, status=refused.status,
                                        draft=draft)
    raise web.HTTPSeeOther(f"/agent/conversations/{conversation_id(request)}?done={done}")


@console(Role.AGENT)
async def claim_form(request: web.Request) -> web.Response:
    """POST /agent/conversations/{id}/claim"""
    services, wanted = request.app[SERVICES], conversation_id(request)
    agent, now = request["viewer"].email, services.clock.now()
    return await _form_action(request, "claimed",
                              lambda session: services.desk.claim(session, wanted, agent, now))


@console(Role.AGENT)
async def reply_form(request: web.Request) -> web.Response:
    """POST /agent/conversations/{id}/messages — text, or ``template`` (an approved one)."""
    services, wanted = request.app[SERVICES], conversation_id(request)
    form = await request.post()
    agent, now = request["viewer"].email, services.clock.now()
    text, template = str(form.get("text", "")), form.get("template")
    key = str(form.get("key", "")) or None
    return await _form_action(request, "sent", lambda session: services.desk.reply(
        session, wanted, agent, now, text=text, template=str(template) if template else None,
        client_key=key), draft=text)


@console(Role.AGENT)
async def note_form(request: web.Request) -> web.Response:
    """POST /agent/conversations/{id}/notes"""
    services, wanted = request.app[SERVICES], conversation_id(request)
    form = await request.post()
    agent, now, text = request["viewer"].email, services.clock.now(), str(form.get("text", ""))
    return await _form_action(request, "noted", lambda session: services.desk.add_note(
        session, wanted, agent, now, text=text))


@console(Role.AGENT)
async def resolve_form(request: web.Request) -> web.Response:
    """POST /agent/conversations/{id}/resolve"""
    services, wanted = request.app[SERVICES], conversation_id(request)
    agent, now = request["viewer"].email, services.clock.now()
    return await _form_action(request, "resolved",
                              lambda session: services.desk.resolve(session, wanted, agent, now))


def _watched(request: web.Request) -> frozenset[int]:
    """The conversations an event stream watches (``?conversation=ID``, repeatable): values that
    cannot be a conversation's id are ignored, more than ``MAX_WATCHED`` are refused."""
    wanted = frozenset(int(value) for value in request.query.getall("conversation", [])
                       if value.isascii() and value.isdecimal() and len(value) <= MAX_ID_DIGITS)
    if len(wanted) > MAX_WATCHED:
        raise web.HTTPBadRequest(text=f"watch at most {MAX_WATCHED} conversations\n")
    return wanted


async def _still_signed_in(request: web.Request) -> bool:
    """Whether the session that opened the stream is still current, its user active and an agent."""
    services, token = request.app[SERVICES], session_token(request)
    viewer = None if token is None else await services.store.read(
        lambda session: viewer_for(session, token, services.clock.now()))
    return viewer is not None and viewer.role.may(Role.AGENT)


@console(Role.AGENT)
async def events(request: web.Request) -> web.StreamResponse:
    """GET /agent/events[?conversation=ID] — server-sent events: ``change`` with the ids of the
    conversations that changed and whether the queue did. The stream ends at the first change
    or keep-alive after the agent's session does (signed out, expired or deactivated)."""
    services = request.app[SERVICES]
    watching = _watched(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    async with services.feed.subscribe(watching) as subscription:
        try:
            await response.write(b"retry: 2000\nevent: ready\ndata: {}\n\n")
            while True:
                try:
                    change = await asyncio.wait_for(subscription.changes.get(), KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    change = KEEP_ALIVE
                if change is None or not await _still_signed_in(request):
                    break
                if change is KEEP_ALIVE:
                    await response.write(b": keep-alive\n\n")  # also finds a closed tab
                    continue
                data = json.dumps({"conversations": sorted(change.conversations),
                                   "queue": change.queue})
                await response.write(f"event: change\ndata: {data}\n\n".encode())
        except ConnectionResetError:
            pass  # the console went away
    return response


def setup_agent_routes(app: web.Application) -> None:
    """Mount the agent console."""
    conversation = "/agent/conversations/{conversation_id:\\d+}"
    app.router.add_get("/agent", queue_page)
    app.router.add_get("/agent/queue", queue_rows)
    app.router.add_get("/agent/events", events)
    app.router.add_get(conversation, conversation_page)
    app.router.add_get(f"{conversation}/panel", conversation_panel)
    app.router.add_post(f"{conversation}/claim", claim_form)
    app.router.add_post(f"{conversation}/messages", reply_form)
    app.router.add_post(f"{conversation}/notes", note_form)
    app.router.add_post(f"{conversation}/resolve", resolve_form)
