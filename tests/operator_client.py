"""Driving the operator console and API from tests: an app with an operator and an agent, and
signing in as either."""

from __future__ import annotations

import re

from bot.accounts import create_user, viewer_for
from bot.web.auth import SESSION_COOKIE, cookie_signer
from tests.conftest import live_settings

PASSWORD = "correct horse battery"
OPERATOR, AGENT = "op@example.com", "agent@example.com"
BEARER = {"Authorization": "Bearer test-api-token"}


async def operator_bot(make_bot, database_url: str, clock,
                       twilio_base_url: str = "http://127.0.0.1:1"):
    """The app over plain http (so the test client sends the session cookie back), with an
    operator and an agent account; returns (BotClient, Services)."""
    settings = live_settings(database_url, twilio_base_url, public_base_url="http://127.0.0.1")
    bot, services = await make_bot(settings, clock=clock)
    for email, role in ((OPERATOR, "operator"), (AGENT, "agent")):
        await services.store.write(lambda s, e=email, r=role: create_user(s, e, r, PASSWORD,
                                                                          clock.now()))
    return bot, services


async def sign_in(client, services, email: str) -> str:
    """Sign in as ``email`` (instead of whoever was signed in); returns the session's CSRF token."""
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())[1]
    response = await client.post("/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": form_token}, allow_redirects=False)
    assert response.status == 302, await response.text()
    token = cookie_signer(services.settings.secret_key).loads(
        response.cookies[SESSION_COOKIE].value)
    viewer = await services.store.read(lambda s: viewer_for(s, token, services.clock.now()))
    return viewer.csrf_token
