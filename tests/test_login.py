"""Signing in and out of the consoles cannot be done to someone from another site: requests a
browser marks as coming from another site (Origin, Sec-Fetch-Site) are refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.store.models import ConsoleSession
from bot.web.auth import SESSION_COOKIE
from tests.consoles import AGENT, PASSWORD, console_bot, sign_in

FOREIGN = [{"Origin": "https://evil.example"}, {"Origin": "null"},
           {"Sec-Fetch-Site": "cross-site"}]


async def _form_token(client) -> str:
    page = await (await client.get("/login")).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def _post_login(client, token: str, *, password: str = PASSWORD, headers=None):
    return await client.post("/login", data={"email": AGENT, "password": password,
                                             "csrf_token": token},
                             headers=headers or {}, allow_redirects=False)


async def _sessions(services) -> int:
    return await services.store.read(
        lambda s: s.scalar(select(func.count()).select_from(ConsoleSession)))


@pytest.mark.parametrize("headers", FOREIGN)
async def test_signing_in_from_another_site_is_refused(make_bot, sqlite_url, clock, headers):
    """A sign-in posted from another site is refused even with a good token and password (login
    CSRF: the visitor would work in the attacker's account)."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    response = await _post_login(bot.client, await _form_token(bot.client), headers=headers)
    assert response.status == 403 and SESSION_COOKIE not in response.cookies
    assert await _sessions(services) == 0


@pytest.mark.parametrize("headers", FOREIGN)
async def test_signing_out_from_another_site_is_refused(make_bot, sqlite_url, clock, headers):
    """A sign-out posted from another site is refused; the session goes on."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    csrf = await sign_in(bot.client, AGENT)
    response = await bot.client.post("/logout", data={"csrf_token": csrf}, headers=headers,
                                     allow_redirects=False)
    assert response.status == 403
    assert await _sessions(services) == 1


@pytest.mark.parametrize("origin", ["http://127.0.0.1", "own"])
async def test_the_sites_own_origin_signs_in_and_out(make_bot, sqlite_url, clock, origin):
    """The public address, or the host the browser asked for, is this site."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    if origin == "own":
        origin = str(bot.client.make_url("")).rstrip("/")
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    response = await _post_login(bot.client, await _form_token(bot.client), headers=headers)
    assert response.status == 302
    csrf = await sign_in(bot.client, AGENT)
    out = await bot.client.post("/logout", data={"csrf_token": csrf}, headers=headers,
                                allow_redirects=False)
    assert out.status == 302
    assert await _sessions(services) == 1  # the first sign-in's session; this one ended


@pytest.mark.parametrize("target", ["/\\evil.example", "/\\/evil.example", "/agent\r\nSet-Cookie: x=1"])
async def test_a_next_browsers_read_off_site_or_with_a_line_break_goes_home(make_bot, sqlite_url,
                                                                           clock, target):
    """A ``next`` with a backslash (browsers read "/\\evil.example" as "//evil.example") or a
    line break is ignored: the user lands on their home page, never elsewhere, never a 500."""
    bot, _ = await console_bot(make_bot, sqlite_url, clock)
    token = await _form_token(bot.client)
    response = await bot.client.post("/login", data={
        "email": AGENT, "password": PASSWORD, "csrf_token": token, "next": target},
        allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/agent"
