"""Signing in and out of the consoles cannot be done to someone from another site: requests a
browser marks as coming from another site (Origin, Sec-Fetch-Site) are refused."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from sqlalchemy import func, select

from bot import accounts
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


async def test_password_checks_do_not_hold_the_store_writer(make_bot, sqlite_url, clock,
                                                            monkeypatch):
    """While a sign-in's slow (scrypt) password check runs, the store still takes writes: anonymous
    attempts cannot hold up the webhooks, which share the writer."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    entered, release = threading.Event(), threading.Event()

    def slow_check(password: str, stored: str) -> bool:
        entered.set()
        release.wait(10)
        return False

    monkeypatch.setattr(accounts, "verify_password", slow_check)
    token = await _form_token(bot.client)
    attempt = asyncio.create_task(_post_login(bot.client, token, password="wrong password!"))
    try:
        assert await asyncio.to_thread(entered.wait, 10)
        await asyncio.wait_for(services.store.write(lambda session: None), 2)
    finally:
        release.set()
    assert (await attempt).status == 401


async def test_password_guessing_is_throttled_per_email(make_bot, sqlite_url, clock) -> None:
    """After five wrong passwords an email may not sign in, even rightly, for fifteen minutes;
    an unknown email is counted the same way, so the refusal tells nothing about who exists."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    token = await _form_token(bot.client)
    for _ in range(5):
        assert (await _post_login(bot.client, token, password="wrong password!")).status == 401
    refused = await _post_login(bot.client, token)
    assert refused.status == 429 and SESSION_COOKIE not in refused.cookies
    assert int(refused.headers["Retry-After"]) == 15 * 60
    assert "Try again in 15 minute(s)" in await refused.text()
    assert await _sessions(services) == 0
    clock.advance(minutes=15)
    assert (await _post_login(bot.client, token)).status == 302
