"""The no-login payment page: only the failed invoice, one action, nothing for a bad link."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.links import issue_link_token
from bot.store.models import DunningEpisode, Invoice
from bot.web.pay_views import form_token
from tests.business import (
    LA_MORNING,
    actions,
    customer_upserted,
    outbox,
    payment_failed,
    send,
)
from tests.conftest import live_settings

PAY_PATH = re.compile(r"https://bot\.example\.com(/pay/[\w.-]+)")


async def _failed_invoice(make_bot, database_url, twilio, clock, *, hosted_url=None, locale="en",
                          **settings):
    double, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base, **settings), clock=clock)
    await send(bot, customer_upserted(locale=locale))
    await send(bot, payment_failed(hosted_url=hosted_url))
    await send(bot, payment_failed("in_2", amount="77.00"))
    await services.sender.drain()
    path = PAY_PATH.search(double.messages[0].body).group(1)
    return double, bot, services, path


async def test_page_shows_only_that_invoice_and_the_local_form(make_bot, database_url, twilio,
                                                               clock):
    """The page names the amount in the customer's locale and currency, says what success
    does, and offers one action: the local form (no hosted page was given)."""
    _, bot, _, path = await _failed_invoice(make_bot, database_url, twilio, clock, locale="es")
    response = await bot.client.get(path)
    html = await response.text()
    assert response.status == 200
    assert "19,00\xa0US$" in html
    assert "77" not in html and "in_1" not in html and "cus_1" not in html
    assert "dejarás de recibir recordatorios" in html
    assert html.count("<form") == 1 and 'method="post"' in html
    assert response.headers["Cache-Control"] == "no-store"


async def test_hosted_page_is_the_one_action_when_given(make_bot, database_url, twilio, clock):
    """With the provider's hosted_url, the page links there and shows no form."""
    _, bot, services, path = await _failed_invoice(
        make_bot, database_url, twilio, clock, hosted_url="https://pay.example.com/i/in_1")
    html = await (await bot.client.get(path)).text()
    assert 'href="https://pay.example.com/i/in_1"' in html
    assert "<form" not in html
    response = await bot.client.post(path, data={"form_token": form_token("test-secret", path[5:])},
                                     allow_redirects=False)
    assert response.status == 303
    invoice = await services.store.read(lambda s: s.get(Invoice, "in_1"))
    assert invoice.status == "open"  # paid on the provider's page, not here


async def test_local_form_pays_stops_the_dunning_and_confirms_once(make_bot, database_url,
                                                                  twilio, clock):
    """Posting the form marks the invoice paid, ends the episode, sends one confirmation, and
    the link from then on says the invoice is paid — nothing more."""
    _, bot, services, path = await _failed_invoice(make_bot, database_url, twilio, clock)
    token = path.removeprefix("/pay/")
    response = await bot.client.post(path, data={"form_token": form_token("test-secret", token)},
                                     allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, path)
    await bot.client.post(path, data={"form_token": form_token("test-secret", token)})
    await services.sender.drain()
    invoice = await services.store.read(lambda s: s.get(Invoice, "in_1"))
    assert (invoice.status, invoice.paid_via) == ("paid", "page")
    episode = await services.store.read(lambda s: s.scalars(
        select(DunningEpisode).where(DunningEpisode.invoice_id == "in_1")).one())
    assert episode.status == "recovered"
    assert [a.action for a in await actions(services)] == ["pay_invoice"]
    assert len(await outbox(services, template="dunning.paid")) == 1
    html = await (await bot.client.get(path)).text()
    assert "This invoice is paid" in html
    assert "$19.00" not in html and "<form" not in html


async def test_form_needs_its_token(make_bot, database_url, twilio, clock):
    """A post without the form's token (a forged cross-site request) changes nothing."""
    _, bot, services, path = await _failed_invoice(make_bot, database_url, twilio, clock)
    for data in ({}, {"form_token": "0" * 64}):
        response = await bot.client.post(path, data=data)
        assert response.status == 403
    invoice = await services.store.read(lambda s: s.get(Invoice, "in_1"))
    assert invoice.status == "open"


async def test_bad_links_get_plain_pages_that_leak_nothing(make_bot, database_url, twilio, clock):
    """A tampered token, one for another purpose or unknown invoice is a 404, an expired one a
    410; none of them mentions any invoice, amount or customer."""
    _, bot, _, path = await _failed_invoice(make_bot, database_url, twilio, clock)
    expires = LA_MORNING + timedelta(days=1)
    cases = {
        path[:-2] + ("AA" if not path.endswith("AA") else "BB"): 404,
        "/pay/" + issue_link_token("test-secret", "consent", "in_1", expires): 404,
        "/pay/" + issue_link_token("test-secret", "pay", "in_unknown", expires): 404,
        "/pay/" + issue_link_token("other-secret", "pay", "in_1", expires): 404,
        "/pay/not-a-token": 404,
    }
    for target, status in cases.items():
        response = await bot.client.get(target, headers={"Accept-Language": "pt-BR,pt;q=0.9"})
        html = await response.text()
        assert response.status == status, target
        assert "Este link não é válido." in html
        assert "19" not in html and "in_1" not in html and "<form" not in html
    clock.advance(days=15)
    response = await bot.client.get(path)
    html = await response.text()
    assert response.status == 410
    assert "This link has expired" in html and "19" not in html
    assert (await bot.client.post(path, data={})).status == 410


async def test_with_the_operators_backend_the_form_asks_it_to_collect(make_bot, database_url,
                                                                     twilio, clock):
    """With the billing webhook configured, the form records a payment request for the
    operator's backend and the page says it is being processed; the invoice is paid only
    when the backend reports payment.succeeded."""
    _, bot, services, path = await _failed_invoice(
        make_bot, database_url, twilio, clock, billing_webhook_url="http://127.0.0.1:9/billing",
        billing_webhook_secret="s3cret")
    token = path.removeprefix("/pay/")
    await bot.client.post(path, data={"form_token": form_token("test-secret", token)})
    invoice = await services.store.read(lambda s: s.get(Invoice, "in_1"))
    assert invoice.status == "open"
    [request] = await actions(services)
    assert (request.action, request.status, request.idempotency_key) == (
        "pay_invoice", "pending", "pay_invoice:in_1")
    html = await (await bot.client.get(path)).text()
    assert "being processed" in html and "<form" not in html
