"""Signing in to the consoles the way a browser does, for tests that drive them over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.accounts import create_user
from bot.services import Services
from bot.store.models import Conversation
from tests.conftest import live_settings

PASSWORD = "correct horse battery"
AGENT = "agent@example.com"
OTHER_AGENT = "other@example.com"
OPERATOR = "op@example.com"
BEARER = {"Authorization": "Bearer test-api-token"}
WORKING = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
"""A Wednesday, 10:00 in New York: inside the agents' default working hours."""


def add_console_users(services: Services) -> None:
    """Two agents and an operator, all with ``PASSWORD``."""
    now = services.clock.now()
    for email, role in ((AGENT, "agent"), (OTHER_AGENT, "agent"), (OPERATOR, "operator")):
        services.store.write_sync(lambda s, e=email, r=role: create_user(s, e, r, PASSWORD, now))


async def console_bot(make_bot, database_url: str, clock,
                       twilio_base_url: str = "http://127.0.0.1:1"):
    """The app over plain http (so the test client sends the session cookie back), with the
    console users of ``add_console_users``; returns (BotClient, Services)."""
    settings = live_settings(database_url, twilio_base_url, public_base_url="http://127.0.0.1")
    bot, services = await make_bot(settings, clock=clock)
    add_console_users(services)
    return bot, services


async def desk_bot(make_bot, database_url: str, twilio, clock):
    """``console_bot`` at ``WORKING`` time, sending to the Twilio double (agents at work)."""
    clock.set(WORKING)
    return await console_bot(make_bot, database_url, clock, twilio[1])


async def only_conversation_id(services: Services) -> int:
    """The id of the (first) conversation."""
    return await services.store.read(lambda s: s.scalars(select(Conversation.id)).first())


async def taken_by_another_agent(bot, services: Services) -> tuple[int, str]:
    """A customer asks for a person and ``OTHER_AGENT`` claims it; ``AGENT`` is then signed in.
    Returns the conversation id and ``AGENT``'s CSRF token."""
    await bot.message("+14155550100", "talk to a person")
    wanted = await only_conversation_id(services)
    csrf = await sign_in(bot.client, OTHER_AGENT)
    await bot.client.post(f"/agent/conversations/{wanted}/claim", data={"csrf_token": csrf})
    return wanted, await sign_in(bot.client, AGENT)


async def sign_in(client: TestClient, email: str) -> str:
    """Sign in through the form; returns the session's CSRF token (from a console page)."""
    client.session.cookie_jar.clear()
    form = await (await client.get("/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = await client.post("/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": token}, allow_redirects=False)
    assert response.status == 302, await response.text()
    page = await (await client.get("/agent")).text()
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
