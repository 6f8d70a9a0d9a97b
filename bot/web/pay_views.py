"""The no-login payment page: one failed invoice, one action.

``GET /pay/{token}`` shows the invoice the token names — the amount in the customer's locale
and currency, what happens when it is paid — and a single way to pay: the provider's hosted
page when the business gave one, otherwise the local ledger's form (``POST /pay/{token}``).
A tampered token is a plain 404 and an expired one a plain 410: neither says anything about
the invoice or the customer. A paid invoice's link says so and nothing more.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from babel import Locale

from bot.billing.invoices import payment_page
from bot.dunning import invoice_of_token
from bot.i18n import best_locale, browser_locale, format_money
from bot.links import LinkExpired, LinkInvalid
from bot.messages import N_
from bot.services import Services
from bot.web.keys import SERVICES
from bot.web.pages import render_page

TEXT = {
    "title": N_("Pay your invoice"),
    "amount_due": N_("Amount due"),
    "on_success": N_("When the payment goes through, your subscription simply carries on and "
                     "the reminders stop."),
    "pay_hosted": N_("Pay securely"),
    "pay_now": N_("Pay now"),
    "paid": N_("This invoice is paid. Thank you!"),
    "processing": N_("Thank you! Your payment is being processed; we'll send you a confirmation."),
    "not_found": N_("This link is not valid."),
    "expired": N_("This link has expired. Reply to our last message and we'll help you pay."),
    "form_expired": N_("This form has expired. Please reload the page and try again."),
}


def form_token(secret_key: str, token: str) -> str:
    """The payment form's anti-forgery token, bound to its link."""
    return hmac.new(secret_key.encode(), f"pay-form:{token}".encode(), hashlib.sha256).hexdigest()


def _texts(services: Services, locale: str) -> dict[str, str]:
    return {key: services.renderer.translate(label, locale) for key, label in TEXT.items()}


def _notice(request: web.Request, key: str, status: int, locale: str | None = None) -> web.Response:
    """A plain page with one sentence: nothing about any invoice or customer."""
    services = request.app[SERVICES]
    locale = locale or browser_locale(request.headers.get("Accept-Language", ""),
                                     services.settings.default_locale)
    texts = _texts(services, locale)
    return render_page(request, "pay.html", status=status, lang=_lang(locale), t=texts,
                       notice=texts[key])


def _lang(locale: str) -> str:
    return str(Locale.parse(locale)).replace("_", "-")


def _invoice_of(request: web.Request) -> str | web.Response:
    services = request.app[SERVICES]
    try:
        return invoice_of_token(services.settings.secret_key, request.match_info["token"],
                                services.clock.now())
    except LinkInvalid:
        return _notice(request, "not_found", 404)
    except LinkExpired:
        return _notice(request, "expired", 410)


async def show(request: web.Request) -> web.Response:
    """GET /pay/{token}"""
    services = request.app[SERVICES]
    invoice_id = _invoice_of(request)
    if isinstance(invoice_id, web.Response):
        return invoice_id
    token = request.match_info["token"]
    page = await services.store.read(lambda session: payment_page(session, invoice_id))
    if page is None:
        return _notice(request, "not_found", 404)
    locale = best_locale(page.locale, None, services.settings.default_locale)
    texts = _texts(services, locale)
    if page.paid or page.requested:
        return render_page(request, "pay.html", lang=_lang(locale), t=texts,
                           notice=texts["paid" if page.paid else "processing"])
    return render_page(request, "pay.html", lang=_lang(locale), t=texts,
                       amount=format_money(page.amount, page.currency, locale),
                       hosted_url=page.hosted_url,
                       form_token=form_token(services.settings.secret_key, token))


async def pay(request: web.Request) -> web.Response:
    """POST /pay/{token} — the local form: pay the invoice (the local ledger marks it paid and
    stops the dunning; the operator's backend is asked to collect it)."""
    services = request.app[SERVICES]
    invoice_id = _invoice_of(request)
    if isinstance(invoice_id, web.Response):
        return invoice_id
    token = request.match_info["token"]
    sent = (await request.post()).get("form_token")
    if not isinstance(sent, str) or not hmac.compare_digest(
            sent, form_token(services.settings.secret_key, token)):
        return _notice(request, "form_expired", 403)
    now = services.clock.now()
    known = await services.store.write(lambda session: services.dunning.pay_on_page(
        session, invoice_id, settles=services.billing.settles_on_page, now=now))
    if not known:
        return _notice(request, "not_found", 404)
    services.sender.notify()
    raise web.HTTPSeeOther(f"/pay/{token}")


def setup_pay_routes(app: web.Application) -> None:
    app.router.add_get("/pay/{token}", show)
    app.router.add_post("/pay/{token}", pay)
