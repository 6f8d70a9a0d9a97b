"""Console accounts and access: passwords, sessions, roles, CSRF, bearer tokens."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.accounts import AccountError, Role, create_user, hash_password, verify_password
from bot.cli import main
from bot.services import build_services
from bot.store.models import ConsoleSession, ConsoleUser
from bot.web.app import create_app
from bot.web.auth import SESSION_COOKIE, api, console
from tests.conftest import live_settings

PASSWORD = "correct horse battery"


@pytest.mark.production_scrypt
def test_password_hash_verifies_only_the_password() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$5$")
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "!", stored)
    assert not verify_password(PASSWORD, "md5$abc")
    assert hash_password(PASSWORD) != stored  # salted


@pytest.mark.parametrize(("email", "role", "password", "message"), [
    ("not-an-email", "agent", PASSWORD, "not an email"),
    ("a@example.com", "admin", PASSWORD, "agent or operator"),
    ("a@example.com", "agent", "short", "at least 12"),
])
def test_bad_users_are_refused(sqlite_url, clock, email, role, password, message) -> None:
    services = build_services(live_settings(sqlite_url, "http://127.0.0.1:1"), clock=clock)
    with pytest.raises(AccountError, match=message):
        services.store.write_sync(lambda s: create_user(s, email, role, password, clock.now()))
    services.store.close()


async def _app(aiohttp_client, database_url, clock):
    # Plain http, so the test client sends back the cookie (it is Secure under https).
    settings = live_settings(database_url, "http://127.0.0.1:1", public_base_url="http://127.0.0.1")
    services = build_services(settings, clock=clock)
    for email, role in (("agent@example.com", "agent"), ("op@example.com", "operator")):
        services.store.write_sync(lambda s, e=email, r=role: create_user(s, e, r, PASSWORD,
                                                                         clock.now()))
    app = create_app(services, worker=False)

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"viewer": request["viewer"].email if request["viewer"] else None})

    app.router.add_route("*", "/test/operator-page", console(Role.OPERATOR)(ok))
    app.router.add_route("*", "/test/agent-api", api(Role.AGENT)(ok))
    app.router.add_route("*", "/test/token-api", api()(ok))
    return await aiohttp_client(app), services


async def _sign_in(client, email: str, password: str = PASSWORD, next_: str = ""):
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    return await client.post("/login", data={"email": email, "password": password,
                                             "csrf_token": token, "next": next_},
                             allow_redirects=False)


async def test_sign_in_and_out(aiohttp_client, database_url, clock) -> None:
    """Right credentials start a session (HttpOnly, SameSite=Strict); signing out ends it for
    good, and the old cookie no longer opens anything."""
    client, services = await _app(aiohttp_client, database_url, clock)
    wrong = await _sign_in(client, "agent@example.com", "wrong password!")
    assert wrong.status == 401 and SESSION_COOKIE not in wrong.cookies
    unknown = await _sign_in(client, "nobody@example.com")
    assert unknown.status == 401

    response = await _sign_in(client, "Agent@Example.com")
    assert (response.status, response.headers["Location"]) == (302, "/agent")
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    stolen = cookie.value
    api_call = await client.get("/test/agent-api")
    assert (await api_call.json()) == {"viewer": "agent@example.com"}

    page = await client.get("/login")
    assert page.status == 200
    # Signing out needs the session's CSRF token.
    assert (await client.post("/logout", allow_redirects=False)).status == 403
    csrf = await services.store.read(lambda s: s.scalars(select(ConsoleSession)).one().csrf_token)
    out = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 302
    assert await services.store.read(
        lambda s: s.scalar(select(func.count()).select_from(ConsoleSession))) == 0
    client.session.cookie_jar.clear()
    replay = await client.get("/test/agent-api", cookies={SESSION_COOKIE: stolen})
    assert replay.status == 401


async def test_tampered_cookie_and_form_token_are_refused(aiohttp_client, sqlite_url, clock) -> None:
    client, _ = await _app(aiohttp_client, sqlite_url, clock)
    forged = await client.get("/test/agent-api", cookies={SESSION_COOKIE: "eyJ0b2tlbiI6MX0.forged"})
    assert forged.status == 401
    no_token = await client.post("/login", data={"email": "agent@example.com",
                                                "password": PASSWORD, "csrf_token": "x"},
                                 allow_redirects=False)
    assert no_token.status == 403


async def test_next_is_followed_only_within_the_site(aiohttp_client, sqlite_url, clock) -> None:
    client, _ = await _app(aiohttp_client, sqlite_url, clock)
    local = await _sign_in(client, "op@example.com", next_="/admin/templates")
    assert local.headers["Location"] == "/admin/templates"
    client.session.cookie_jar.clear()
    for evil in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        response = await _sign_in(client, "op@example.com", next_=evil)
        assert response.headers["Location"] == "/admin"
        client.session.cookie_jar.clear()


async def test_console_pages_need_the_right_role_and_csrf(aiohttp_client, database_url, clock):
    """Anonymous visitors are sent to sign in, agents cannot open operator pages, and a
    state-changing request without the CSRF token is refused."""
    client, services = await _app(aiohttp_client, database_url, clock)
    anonymous = await client.get("/test/operator-page", allow_redirects=False)
    assert (anonymous.status, anonymous.headers["Location"]) == (
        302, "/login?next=/test/operator-page")
    assert (await client.post("/test/operator-page")).status == 401

    await _sign_in(client, "agent@example.com")
    assert (await client.get("/test/operator-page")).status == 403
    client.session.cookie_jar.clear()

    await _sign_in(client, "op@example.com")
    assert (await client.get("/test/operator-page")).status == 200
    assert (await client.post("/test/operator-page")).status == 403
    csrf = await services.store.read(lambda s: s.scalars(
        select(ConsoleSession).join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleUser.email == "op@example.com")).one().csrf_token)
    assert (await client.post("/test/operator-page", headers={"X-CSRF-Token": csrf})).status == 200
    assert (await client.post("/test/operator-page", data={"csrf_token": csrf})).status == 200
    assert (await client.post("/test/operator-page", headers={"X-CSRF-Token": "guess"})).status == 403
    # Operators may also work the agent side.
    assert (await client.get("/test/agent-api")).status == 200


async def test_api_takes_the_bearer_token(aiohttp_client, sqlite_url, clock) -> None:
    """The API answers the bearer token, refuses a wrong one, and a session only where allowed."""
    client, _ = await _app(aiohttp_client, sqlite_url, clock)
    assert (await client.get("/test/token-api")).status == 401
    bad = await client.get("/test/token-api", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    good = await client.post("/test/token-api",
                             headers={"Authorization": "Bearer test-api-token"})
    assert (good.status, await good.json()) == (200, {"viewer": None})
    await _sign_in(client, "op@example.com")
    assert (await client.get("/test/token-api")).status == 401  # token-only route


async def test_api_is_disabled_without_a_token_outside_sandbox(aiohttp_client, sqlite_url, clock):
    services = build_services(live_settings(sqlite_url, "http://127.0.0.1:1", api_token=None),
                              clock=clock)
    assert services.settings.effective_api_token is None
    app = create_app(services, worker=False)
    app.router.add_get("/test/token-api", api()(lambda r: web.json_response({})))
    client = await aiohttp_client(app)
    for header in ("Bearer ", "Bearer None", "Bearer null"):
        assert (await client.get("/test/token-api", headers={"Authorization": header})).status == 401


def test_users_add_command(sqlite_url, monkeypatch) -> None:
    """`bot users add` creates the user; a duplicate or short password is a readable error."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    runner = CliRunner()
    ok = runner.invoke(main, ["users", "add", "Ana@Example.com", "--role", "agent",
                              "--password", PASSWORD])
    assert ok.exit_code == 0, ok.output
    assert "created agent ana@example.com" in ok.output
    again = runner.invoke(main, ["users", "add", "ana@example.com", "--role", "agent",
                                 "--password", PASSWORD])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(main, ["users", "add", "b@example.com", "--role", "operator",
                                 "--password", "x"])
    assert short.exit_code != 0 and "at least 12" in short.output
    prompted = runner.invoke(main, ["users", "add", "c@example.com", "--role", "operator"],
                             input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output

    from bot.store.database import Store

    store = Store(sqlite_url)
    users = store.read_sync(lambda s: [(u.email, u.role) for u in s.scalars(select(ConsoleUser))])
    store.close()
    assert users == [("ana@example.com", "agent"), ("c@example.com", "operator")]


async def test_session_cookie_is_secure_behind_https(aiohttp_client, sqlite_url, clock) -> None:
    """With an https public URL the cookie is marked Secure."""
    services = build_services(live_settings(sqlite_url, "http://127.0.0.1:1"), clock=clock)
    services.store.write_sync(lambda s: create_user(s, "a@example.com", "agent", PASSWORD,
                                                    clock.now()))
    client = await aiohttp_client(create_app(services, worker=False))
    response = await _sign_in(client, "a@example.com")
    assert response.cookies[SESSION_COOKIE]["secure"]
