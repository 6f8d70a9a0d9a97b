"""Who may call what: a bearer token for the API, signed-in sessions for the consoles, and CSRF
checks on every state-changing request a browser makes."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from aiohttp import web
from itsdangerous import BadSignature, URLSafeSerializer

from bot.accounts import Role, Viewer, viewer_for
from bot.web.keys import SERVICES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "bot_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cookie_signer(secret_key: str) -> URLSafeSerializer:
    """Signs the session token the browser holds."""
    return URLSafeSerializer(secret_key, salt="console-session")


def session_token(request: web.Request) -> str | None:
    """The session token from the request's cookie, if its signature holds."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        token = cookie_signer(request.app[SERVICES].settings.secret_key).loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


async def current_viewer(request: web.Request) -> Viewer | None:
    """The signed-in user, looked up once per request."""
    if "viewer" not in request:
        token = session_token(request)
        services = request.app[SERVICES]
        request["viewer"] = (None if token is None else await services.store.read(
            lambda session: viewer_for(session, token, services.clock.now())))
    return request["viewer"]


async def csrf_ok(request: web.Request, viewer: Viewer) -> bool:
    """Whether an unsafe request carries the session's CSRF token (header or form field)."""
    if request.method not in UNSAFE:
        return True
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                 "multipart/form-data"):
        sent = (await request.post()).get("csrf_token")
    return isinstance(sent, str) and hmac.compare_digest(sent, viewer.csrf_token)


def bearer_ok(request: web.Request) -> bool:
    """Whether the request carries the API's bearer token."""
    expected = request.app[SERVICES].settings.effective_api_token
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return (expected is not None and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), expected.encode()))


def console(role: Role) -> Callable[[Handler], Handler]:
    """A console page: anonymous visitors go to the sign-in page, the wrong role gets 403,
    and unsafe methods need the CSRF token."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            viewer = await current_viewer(request)
            if viewer is None:
                if request.method in UNSAFE:
                    raise web.HTTPUnauthorized(text="sign in first\n")
                raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
            if not viewer.role.may(role):
                raise web.HTTPForbidden(text=f"this page is for the {role} role\n")
            if not await csrf_ok(request, viewer):
                raise web.HTTPForbidden(text="missing or wrong CSRF token\n")
            return await handler(request)

        return guarded

    return decorate


def api(role: Role | None = None) -> Callable[[Handler], Handler]:
    """An API route: the bearer token, or — when ``role`` is given — a signed-in user of that
    role (with the CSRF token on unsafe methods, since a browser sends the cookie by itself)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            if bearer_ok(request):
                request["viewer"] = None
                return await handler(request)
            viewer = await current_viewer(request) if role is not None else None
            if viewer is None:
                raise web.HTTPUnauthorized(
                    text="send Authorization: Bearer <BOT_API_TOKEN>\n",
                    headers={"WWW-Authenticate": 'Bearer realm="bot"'})
            if not viewer.role.may(role):
                raise web.HTTPForbidden(text=f"this API is for the {role} role\n")
            if not await csrf_ok(request, viewer):
                raise web.HTTPForbidden(text=f"missing or wrong {CSRF_HEADER}\n")
            return await handler(request)

        return guarded

    return decorate
