"""Every route of the app, tried anonymously, with a wrong token, as the wrong role and as the
right one: nothing is reachable without the credential its policy names.

A route missing from POLICY fails the test, so a new route cannot ship unclassified."""

from __future__ import annotations

import re

import pytest

from tests.consoles import AGENT, BEARER, OPERATOR, console_bot, sign_in

# Who may use each route (HEAD follows GET).
PUBLIC = "public"                  # anyone (health, metrics, sign-in)
TWILIO = "twilio signature"        # X-Twilio-Signature over the public URL
LINK = "signed link"               # a token in the path, made by us for that purpose
AGENT_PAGE = "agent console"       # a signed-in agent or operator
OPERATOR_PAGE = "operator console" # a signed-in operator
AGENT_API = "agent api"            # the bearer token, or an agent's or operator's session
OPERATOR_API = "operator api"      # the bearer token, or an operator's session
BEARER_API = "bearer api"          # the bearer token only (the business's systems)

POLICY = {
    ("POST", "/twilio/messages"): TWILIO,
    ("POST", "/twilio/status"): TWILIO,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/consent/{token}"): LINK,
    ("GET", "/consent/{token}/data.json"): LINK,
    ("GET", "/pay/{token}"): LINK,
    ("POST", "/pay/{token}"): LINK,
    ("GET", "/admin"): OPERATOR_PAGE,
    ("GET", "/admin/templates/{key}/{locale}/{channel}"): OPERATOR_PAGE,
    ("POST", "/admin/templates/{key}/{locale}/{channel}"): OPERATOR_PAGE,
    ("POST", "/admin/templates/{key}/{locale}/{channel}/restore"): OPERATOR_PAGE,
    ("GET", "/admin/faq"): OPERATOR_PAGE,
    ("GET", "/admin/faq/{locale}"): OPERATOR_PAGE,
    ("POST", "/admin/faq/{locale}"): OPERATOR_PAGE,
    ("POST", "/admin/faq/{locale}/restore"): OPERATOR_PAGE,
    ("GET", "/admin/settings"): OPERATOR_PAGE,
    ("POST", "/admin/settings/{section}"): OPERATOR_PAGE,
    ("GET", "/admin/locales"): OPERATOR_PAGE,
    ("GET", "/api/templates"): OPERATOR_API,
    ("GET", "/api/templates/{key}"): OPERATOR_API,
    ("PUT", "/api/templates/{key}"): OPERATOR_API,
    ("POST", "/api/templates/{key}/preview"): OPERATOR_API,
    ("POST", "/api/templates/{key}/restore"): OPERATOR_API,
    ("GET", "/api/faq"): OPERATOR_API,
    ("GET", "/api/faq/{locale}"): OPERATOR_API,
    ("PUT", "/api/faq/{locale}"): OPERATOR_API,
    ("POST", "/api/faq/{locale}/try"): OPERATOR_API,
    ("POST", "/api/faq/{locale}/restore"): OPERATOR_API,
    ("GET", "/agent"): AGENT_PAGE,
    ("GET", "/agent/queue"): AGENT_PAGE,
    ("GET", "/agent/events"): AGENT_PAGE,
    ("GET", "/agent/conversations/{conversation_id}"): AGENT_PAGE,
    ("GET", "/agent/conversations/{conversation_id}/panel"): AGENT_PAGE,
    ("POST", "/agent/conversations/{conversation_id}/claim"): AGENT_PAGE,
    ("POST", "/agent/conversations/{conversation_id}/messages"): AGENT_PAGE,
    ("POST", "/agent/conversations/{conversation_id}/notes"): AGENT_PAGE,
    ("POST", "/agent/conversations/{conversation_id}/resolve"): AGENT_PAGE,
    ("GET", "/api/handoffs"): AGENT_API,
    ("GET", "/api/conversations/{conversation_id}"): AGENT_API,
    ("POST", "/api/conversations/{conversation_id}/claim"): AGENT_API,
    ("POST", "/api/conversations/{conversation_id}/messages"): AGENT_API,
    ("POST", "/api/conversations/{conversation_id}/notes"): AGENT_API,
    ("POST", "/api/conversations/{conversation_id}/resolve"): AGENT_API,
    ("GET", "/api/reports/support"): OPERATOR_API,
    ("POST", "/api/events"): BEARER_API,
    ("GET", "/api/customers/{customer_id}"): BEARER_API,
    ("GET", "/api/reports/retention"): BEARER_API,
}
SAMPLES = {"token": "not-a-token", "key": "faq.greeting", "locale": "en", "channel": "sms",
           "section": "quiet_hours", "conversation_id": "1", "customer_id": "cus_1"}
WRONG_BEARER = {"Authorization": "Bearer not-the-token"}


def _routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD":
            found.add((route.method, path))
    return found


def _url(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLES[m[1]], template)


async def _call(client, method: str, template: str, headers: dict[str, str]):
    url = _url(template)
    if template == "/agent/events":
        url += "?probe=1"
    kwargs = {"headers": headers, "allow_redirects": False}
    if method in ("POST", "PUT") and template.startswith("/api/"):
        kwargs["json"] = {}
    elif method in ("POST", "PUT"):
        kwargs["data"] = {}
    response = await client.request(method, url, **kwargs)
    if template == "/agent/events" and response.status == 200:
        response.close()  # a live stream: its opening is the answer
    return response


def _refused(response) -> bool:
    to_login = response.status == 302 and response.headers.get("Location", "").startswith("/login")
    return response.status in (401, 403) or to_login


@pytest.fixture
async def app_client(make_bot, sqlite_url, clock):
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    return bot.client, services


async def test_every_route_has_a_policy(app_client) -> None:
    """Routes and POLICY match exactly: nothing unclassified, nothing stale."""
    client, _ = app_client
    assert _routes(client.server.app) == set(POLICY)


@pytest.mark.parametrize(("method", "template"), sorted(POLICY))
async def test_route_refuses_without_its_credential(app_client, method: str,
                                                    template: str) -> None:
    """Anonymous callers, a wrong bearer token and the wrong role are refused; the right
    credential is let through (to whatever the route then says about the request)."""
    client, _ = app_client
    policy = POLICY[(method, template)]
    if policy == PUBLIC:
        response = await _call(client, method, template, {})
        assert response.status < 500
        return
    if policy == TWILIO:
        for headers in ({}, {"X-Twilio-Signature": "forged"}):
            assert (await _call(client, method, template, headers)).status == 403
        return
    if policy == LINK:
        response = await _call(client, method, template, {})
        assert response.status == 404, "a token we did not make must be refused"
        assert "cus_" not in await response.text()
        return

    assert _refused(await _call(client, method, template, {})), "anonymous"
    assert _refused(await _call(client, method, template, WRONG_BEARER)), "wrong bearer"
    bearer_ok = policy in (AGENT_API, OPERATOR_API, BEARER_API)
    bearer = await _call(client, method, template, BEARER)
    assert _refused(bearer) != bearer_ok, ("bearer", bearer.status)

    for who in (AGENT, OPERATOR):
        csrf = await sign_in(client, who)
        may = (policy in (AGENT_PAGE, AGENT_API)
               or (who == OPERATOR and policy in (OPERATOR_PAGE, OPERATOR_API)))
        signed = await _call(client, method, template,
                             {"X-CSRF-Token": csrf} if method != "GET" else {})
        assert _refused(signed) != may, (who, signed.status)
        if may and method != "GET":
            without_csrf = await _call(client, method, template, {})
            assert without_csrf.status == 403, (who, "no CSRF token", without_csrf.status)
        client.session.cookie_jar.clear()
