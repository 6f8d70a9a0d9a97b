"""Sandbox mode: a phone-like page to chat with the bot as an SMS or WhatsApp customer.

Only mounted without Twilio credentials. Messages typed on the page take the same path as
Twilio's webhooks (form → adapter → pipeline); replies are read back from the outbox.
"""

from __future__ import annotations

import secrets

from aiohttp import web
from multidict import MultiDict
from sqlalchemy import select

from bot.addresses import InvalidAddress, normalize_e164, to_channel_address
from bot.channels.twilio_webhook import WebhookRejected
from bot.messages import Channel
from bot.store.models import Contact, OutboxMessage
from bot.web.json_body import json_body
from bot.web.keys import SERVICES
from bot.web.pages import render_page
from bot.web.twilio_views import accept_inbound

SANDBOX_BUSINESS_NUMBER = "+15005550006"
VISIBLE = ("sent", "delivered", "read", "held", "dropped", "failed", "undelivered")


def _plain_refusal(reason: str) -> web.HTTPError:
    """A 400 in plain text, as the simulator shows it."""
    return web.HTTPBadRequest(text=f"{reason}\n")


def _contact_key(params: dict[str, str]) -> tuple[Channel, str]:
    try:
        channel = Channel(params.get("channel", "sms"))
        phone = normalize_e164(params.get("phone", ""))
    except (ValueError, InvalidAddress) as error:
        raise web.HTTPBadRequest(text=f"{error}\n") from None
    return channel, phone


async def simulator(request: web.Request) -> web.Response:
    """GET / — the simulator page."""
    return render_page(request, "simulator.html", business=SANDBOX_BUSINESS_NUMBER)


async def send_as_customer(request: web.Request) -> web.Response:
    """POST /sandbox/messages — a message typed (or a button tapped) on the simulator."""
    if request.content_type != "application/json":
        # Any page the developer visits may post a form or text/plain here without asking the
        # browser first; a JSON post from another site needs a CORS preflight we never grant.
        raise _plain_refusal("send JSON (Content-Type: application/json)")
    data = await json_body(request, refuse=_plain_refusal)
    channel, phone = _contact_key({k: str(v) for k, v in data.items()})
    form = MultiDict({
        "MessageSid": "SM" + secrets.token_hex(16),
        "From": to_channel_address(channel, phone),
        "To": to_channel_address(channel, SANDBOX_BUSINESS_NUMBER),
        "Body": str(data.get("text", ""))[:1600],
        "NumMedia": "0",
    })
    if data.get("payload"):
        form["ButtonPayload"] = str(data["payload"])
    try:
        outcome = await accept_inbound(request.app[SERVICES], form)
    except WebhookRejected as error:
        raise web.HTTPBadRequest(text=error.reason + "\n") from None
    return web.json_response({"outcome": outcome})


async def conversation_log(request: web.Request) -> web.Response:
    """GET /sandbox/messages — both sides of the simulator's conversation, after an id."""
    channel, phone = _contact_key(dict(request.query))
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="after must be a number\n") from None

    def read(session):  # type: ignore[no-untyped-def]
        contact = session.scalars(select(Contact).where(
            Contact.channel == str(channel), Contact.address == phone)).first()
        if contact is None:
            return []
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.contact_id == contact.id,
                                        OutboxMessage.id > after,
                                        OutboxMessage.status.in_(VISIBLE))
            .order_by(OutboxMessage.id)).all()
        return [{"id": r.id, "body": r.body, "buttons": r.choices,
                 "list_button": r.list_button, "status": r.status,
                 "reason": r.status_reason} for r in rows]

    return web.json_response({"messages": await request.app[SERVICES].store.read(read)})


def setup_sandbox_routes(app: web.Application) -> None:
    """Mount the simulator (sandbox mode only)."""
    app.router.add_get("/", simulator)
    app.router.add_post("/sandbox/messages", send_as_customer)
    app.router.add_get("/sandbox/messages", conversation_log)


