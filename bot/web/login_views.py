"""Signing in and out of the consoles."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bot.accounts import Role, authenticate, close_session, open_session
from bot.web.auth import SESSION_COOKIE, cookie_signer, csrf_ok, current_viewer, session_token
from bot.web.keys import SERVICES
from bot.web.pages import render_page

HOME = {Role.AGENT: "/agent", Role.OPERATOR: "/admin"}
LOGIN_FORM_MAX_AGE = 3600


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
    now = services.clock.now()

    def sign_in(session):  # type: ignore[no-untyped-def]
        user = authenticate(session, email, password)
        return (user, open_session(session, user, now)) if user else (None, None)

    user, token = await services.store.write(sign_in)
    if user is None:
        return _login_page(request, error="Wrong email or password.", status=401, email=email)
    target = _safe_next(str(form.get("next", ""))) or HOME[Role(user.role)]
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
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)


