"""The operator console's locales page: coverage per locale, and how to add one."""

from __future__ import annotations

from aiohttp import web

from bot.accounts import Role
from bot.locale_coverage import locale_coverage
from bot.web.auth import console
from bot.web.keys import SERVICES
from bot.web.operator_common import FAQS, TEMPLATES
from bot.web.pages import render_page


@console(Role.OPERATOR)
async def locales_page(request: web.Request) -> web.Response:
    """GET /admin/locales — catalog, message and FAQ coverage of every locale."""
    templates, faqs = request.app[TEMPLATES], request.app[FAQS]

    def read(session):  # type: ignore[no-untyped-def]
        return templates.overview(session), faqs.overview(session)

    rows, faq_statuses = await request.app[SERVICES].store.read(read)
    return render_page(request, "admin_locales.html",
                       report=locale_coverage(templates.locales, rows, faq_statuses),
                       default_locale=request.app[SERVICES].settings.default_locale)
