"""The customer's own consent page and data download, opened from a "what did I agree to?" link.

No login: the signed, expiring link is the key (``bot.links``, purpose ``consent``). A tampered
or unknown link gets 404 and an expired one 410, on plain pages that say nothing about whose
link it was. Pages speak the contact's language; error pages the browser's.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.consent import LINK_PURPOSE
from bot.customer_data import customer_data
from bot.i18n import browser_locale, format_moment
from bot.links import LinkExpired, LinkInvalid, read_link_token
from bot.logs import mask_address
from bot.processor import locale_for
from bot.render import TEMPLATES_DIR, load_translations
from bot.store.models import Contact
from bot.web.keys import SERVICES

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


@lru_cache(maxsize=16)
def _pages(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR / "web"),
                      autoescape=select_autoescape(["html"]), extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(load_translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["moment"] = lambda iso: format_moment(datetime.fromisoformat(iso), locale)
    env.filters["masked"] = mask_address
    env.globals["locale"] = locale
    return env


def _page(locale: str, name: str, status: int = 200, **context: Any) -> web.Response:
    html = _pages(locale).get_template(name).render(**context)
    return web.Response(text=html, content_type="text/html", status=status, headers=HEADERS)


def _refused(request: web.Request, status: int) -> web.HTTPException:
    locale = browser_locale(request.headers.get("Accept-Language", ""),
                            request.app[SERVICES].settings.default_locale)
    response = _page(locale, "consent_refused.html", status=status, expired=status == 410)
    error = web.HTTPGone if status == 410 else web.HTTPNotFound
    return error(text=response.text, content_type="text/html", headers=HEADERS)


async def _customer(request: web.Request) -> tuple[dict[str, Any], str]:
    """The data behind the request's link, and the contact's locale; 404/410 otherwise."""
    services = request.app[SERVICES]
    now = services.clock.now()
    try:
        subject = read_link_token(services.settings.secret_key, LINK_PURPOSE,
                                  request.match_info["token"], now)
        contact_id = int(subject)
    except (LinkInvalid, ValueError):
        raise _refused(request, 404) from None
    except LinkExpired:
        raise _refused(request, 410) from None

    def read(session):  # type: ignore[no-untyped-def]
        contact = session.get(Contact, contact_id)
        if contact is None:
            return None, ""
        return (customer_data(session, contact_id, now),
                locale_for(contact, services.settings.default_locale))

    data, locale = await services.store.read(read)
    if data is None:
        raise _refused(request, 404)
    return data, locale


async def consent_page(request: web.Request) -> web.Response:
    """GET /consent/{token} — what the customer agreed to, on which channel, and when."""
    data, locale = await _customer(request)
    return _page(locale, "consent_page.html", data=data, brand=request.app[SERVICES].settings.brand_name,
                 download=f"/consent/{request.match_info['token']}/data.json")


async def consent_data(request: web.Request) -> web.Response:
    """GET /consent/{token}/data.json — everything we keep about the customer, as a download."""
    data, _ = await _customer(request)
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json",
        headers={**HEADERS, "Content-Disposition": 'attachment; filename="my-data.json"'})


def setup_consent_routes(app: web.Application) -> None:
    app.router.add_get("/consent/{token}", consent_page)
    app.router.add_get("/consent/{token}/data.json", consent_data)
