"""The inbound adapter: Twilio's form becomes one normalized message; bad input gets a 4xx."""

from __future__ import annotations

import pytest
from multidict import MultiDict
from sqlalchemy import func, select

from bot.channels.twilio_webhook import WebhookRejected, decode_form, parse_inbound, parse_status
from bot.messages import Channel
from bot.store.models import InboundMessage
from tests.conftest import PUBLIC_BASE_URL, live_settings, new_sid
from tests.fakes import sign, twilio_form


def test_sms_form_is_normalized() -> None:
    """An SMS form becomes an Inbound with an E.164 address and no Twilio names."""
    sid = new_sid()
    inbound = parse_inbound(MultiDict(twilio_form(sid, "+14155550100", "  Hello there ")))
    assert inbound.channel is Channel.SMS
    assert inbound.address == "+14155550100"
    assert inbound.business_address == "+15005550006"
    assert inbound.text == "  Hello there "
    assert inbound.provider_id == sid
    assert inbound.payload is None


def test_whatsapp_form_with_button_and_media() -> None:
    """A WhatsApp button tap carries its payload; media URLs and types come along."""
    form = twilio_form(new_sid(), "whatsapp:+5511987654321", "Billing date",
                       ButtonPayload="faq:pick:billing_date", ButtonText="Billing date",
                       NumMedia="2", MediaUrl0="https://api.twilio.com/m/0",
                       MediaContentType0="image/jpeg", MediaUrl1="https://api.twilio.com/m/1",
                       MediaContentType1="application/pdf")
    inbound = parse_inbound(MultiDict(form))
    assert inbound.channel is Channel.WHATSAPP
    assert inbound.address == "+5511987654321"
    assert inbound.payload == "faq:pick:billing_date"
    assert [m.content_type for m in inbound.media] == ["image/jpeg", "application/pdf"]
    assert inbound.profile_name == "Ana"


def test_a_picked_list_row_carries_its_id() -> None:
    """A row picked from a WhatsApp list comes back as ListId: the row's payload."""
    form = twilio_form(new_sid(), "whatsapp:+5511987654321", "Switching tools",
                       ListId="cancel:reason:switching", ListTitle="Switching tools")
    assert parse_inbound(MultiDict(form)).payload == "cancel:reason:switching"


@pytest.mark.parametrize(("change", "reason"), [
    ({"From": "not-a-number"}, "bad phone number"),
    ({"From": "+1"}, "bad phone number"),
    ({"From": ""}, "missing field From"),
    ({"MessageSid": "", "SmsMessageSid": ""}, "missing field SmsMessageSid"),
    ({"MessageSid": "SM'; drop table", "SmsMessageSid": ""}, "MessageSid is malformed"),
    ({"NumMedia": "many"}, "NumMedia is not a number"),
    ({"Body": "x" * 5000}, "field Body is too long"),
])
def test_malformed_forms_are_refused_with_a_reason(change: dict, reason: str) -> None:
    """Each malformed form is a 400 whose reason names the problem."""
    form = twilio_form(new_sid(), "+14155550100", "hi")
    form.update(change)
    with pytest.raises(WebhookRejected) as refused:
        parse_inbound(MultiDict(form))
    assert refused.value.status == 400
    assert reason in refused.value.reason


def test_invalid_utf8_is_refused() -> None:
    """A body that is not UTF-8 is a 400, not a crash."""
    with pytest.raises(WebhookRejected) as refused:
        decode_form(b"Body=%FF%FE&From=%2B1415\xff")
    assert refused.value.status == 400


def test_status_form_is_normalized_and_checked() -> None:
    """Status callbacks give id, status and error code; unknown statuses are refused."""
    report = parse_status(MultiDict({"MessageSid": new_sid(), "MessageStatus": "undelivered",
                                     "ErrorCode": "30003"}))
    assert (report.status, report.error_code) == ("undelivered", 30003)
    with pytest.raises(WebhookRejected):
        parse_status(MultiDict({"MessageSid": new_sid(), "MessageStatus": "teleported"}))


async def _stored(services) -> int:
    return await services.store.read(
        lambda s: s.scalar(select(func.count()).select_from(InboundMessage)))


async def test_bad_requests_over_http_are_4xx_and_store_nothing(make_bot, sqlite_url, twilio) -> None:
    """Signed but malformed, oversized or non-UTF-8 requests get 4xx with a reason, never 5xx."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base))
    bad_number = twilio_form(new_sid(), "+1", "hi")
    response = await bot.post_signed("/twilio/messages", bad_number)
    assert response.status == 400
    assert "bad phone number" in await response.text()

    url = PUBLIC_BASE_URL + "/twilio/messages"
    raw = b"Body=\xff\xfe&From=%2B14155550100"
    response = await bot.client.post("/twilio/messages", data=raw, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"})
    assert response.status == 400

    huge = twilio_form(new_sid(), "+14155550100", "x" * 70_000)
    response = await bot.client.post("/twilio/messages", data=huge, headers={
        "X-Twilio-Signature": sign(bot.settings.webhook_token, url, huge)})
    assert response.status == 413
    assert await _stored(services) == 0


async def test_empty_body_media_message_is_accepted(make_bot, sqlite_url, twilio) -> None:
    """A photo with no text is a message like any other (200, recorded)."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base))
    response = await bot.message("+14155550100", "", NumMedia="1",
                                 MediaUrl0="https://api.twilio.com/m/0",
                                 MediaContentType0="image/png")
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert "<Response>" in await response.text()
    assert await _stored(services) == 1


@pytest.mark.parametrize(("raw", "expected"), [
    ("whatsapp:+5215512345678", "+525512345678"),  # how WhatsApp (through Twilio) sends Mexico
    ("whatsapp:+525512345678", "+525512345678"),
    ("+5218112345678", "+528112345678"),
])
def test_mexican_mobiles_with_the_old_1_are_the_same_customer(raw: str, expected: str) -> None:
    """WhatsApp names a Mexican mobile with the "1" Mexico dropped from its numbering in 2019
    (+52 1 55…): it is taken, as the number the business knows (+52 55…), not refused."""
    inbound = parse_inbound(MultiDict(twilio_form(new_sid(), raw, "hola")))
    assert inbound.address == expected


async def test_a_mexican_whatsapp_customer_is_answered(make_bot, sqlite_url, twilio, clock) -> None:
    """A message from whatsapp:+521… is answered (not refused with a 400 Twilio would drop),
    in the language of the customer the business registered as +52…."""
    from tests.business import customer_upserted, send

    double, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await send(bot, customer_upserted(phone=None, whatsapp="+525512345678", locale="es",
                                      timezone="America/Mexico_City"))
    response = await bot.message("whatsapp:+5215512345678", "hola")
    assert response.status == 200
    await services.sender.drain()
    [reply] = double.messages
    assert reply.to == "whatsapp:+525512345678"
    assert reply.body.startswith("¡Hola!")
