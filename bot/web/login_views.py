"""Signing in and out of the consoles."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bot.accounts import (
    Role,
    SignInThrottle,
    close_session,
    login_candidate,
    open_session,
    password_matches,
)
from bot.web.auth import SESSION_COOKIE, cookie_signer, csrf_ok, current_viewer, session_token
from bot.web.keys import SERVICES
from bot.web.pages import render_page

HOME = {Role.AGENT: "/agent", Role.OPERATOR: "/admin"}
LOGIN_FORM_MAX_AGE = 3600
# Password checks (scrypt: about 0.2 s of CPU and 16 MiB each) run on their own threads, never in
# a store transaction, where anonymous sign-in attempts would hold up the writers (on SQLite the
# only one, which also handles the webhooks); two threads bound what a flood of attempts costs.
_PASSWORD_CHECKS = ThreadPoolExecutor(2, thread_name_prefix="password-check")
THROTTLE = web.AppKey("sign_in_throttle", SignInThrottle)


def _form_signer(request: web.Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app[SERVICES].settings.secret_key, salt="login-form")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never //evil.example or https://…)."""
    # Browsers read a backslash as a slash ("/\\evil.example" leaves the site), and a control
    # character cannot go in a Location header at all.
    if not target or "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _from_another_site(request: web.Request) -> bool:
    """Whether the browser says the request comes from another site: ``Sec-Fetch-Site``, or an
    ``Origin`` that is neither the public address nor the host it asked for."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    ours = {request.host, urlsplit(request.app[SERVICES].settings.public_base_url).netloc}
    return urlsplit(origin).netloc not in ours  # "null" has no host: another site


def _refuse_other_sites(request: web.Request) -> None:
    if _from_another_site(request):
        raise web.HTTPForbidden(text="sign in and out from this site's own pages\n")


def _login_page(request: web.Request, *, error: str | None = None, status: int = 200,
                email: str = "") -> web.Response:
    return render_page(request, "login.html", status=status, error=error, email=email,
                       next=_safe_next(request.query.get("next")) or "",
                       csrf_token=_form_signer(request).dumps("login"))


async def login_form(request: web.Request) -> web.Response:
    """GET /login"""
    return _login_page(request)


async def login(request: web.Request) -> web.Response:
    """POST /login — checks where it comes from and the form token, then the credentials;
    sets the session cookie."""
    services = request.app[SERVICES]
    _refuse_other_sites(request)
    form = await request.post()
    # The token only ages the form (it is the same for everyone): what stops another site from
    # signing a visitor in to the attacker's account is the check above.
    try:
        _form_signer(request).loads(str(form.get("csrf_token", "")), max_age=LOGIN_FORM_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return _login_page(request, error="The form expired. Please try again.", status=403)
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    throttle, now = request.app[THROTTLE], services.clock.now()
    wait = throttle.retry_after(email, now)
    if wait is not None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        page = _login_page(request, status=429, email=email, error=(
            f"Too many failed sign-ins for this email. Try again in {minutes} minute(s)."))
        page.headers["Retry-After"] = str(math.ceil(wait.total_seconds()))
        return page
    candidate = await services.store.read(lambda session: login_candidate(session, email))
    # Checked for an unknown email too (against a decoy), so both take as long.
    matches = await asyncio.get_running_loop().run_in_executor(
        _PASSWORD_CHECKS, password_matches, candidate, password)
    if candidate is None or not matches:
        throttle.failed(email, now)
        return _login_page(request, error="Wrong email or password.", status=401, email=email)
    throttle.succeeded(email)
    token = await services.store.write(
        lambda session: open_session(session, candidate.user_id, now))
    target = _safe_next(str(form.get("next", ""))) or HOME[candidate.role]
    response = web.HTTPFound(target)
    response.set_cookie(SESSION_COOKIE, cookie_signer(services.settings.secret_key).dumps(token),
                        httponly=True, samesite="Strict", path="/",
                        secure=services.settings.public_base_url.startswith("https://"))
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /logout — ends this browser's session (others of the same user go on) and clears
    the cookie."""
    _refuse_other_sites(request)
    services = request.app[SERVICES]
    viewer = await current_viewer(request)
    token = session_token(request)
    if viewer is not None and token is not None:
        if not await csrf_ok(request, viewer):
            raise web.HTTPForbidden(text="missing or wrong CSRF token\n")
        await services.store.write(lambda session: close_session(session, token))
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def setup_login_routes(app: web.Application) -> None:
    app[THROTTLE] = SignInThrottle()
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)


