"""Webhook signatures: Twilio's published known-answer vectors, and refusal before any write."""

from __future__ import annotations

import pytest
from multidict import MultiDict
from sqlalchemy import func, select

from bot.channels.twilio_webhook import WebhookRejected, signed_url, verify_signature
from bot.store.models import Contact, InboundMessage, OutboxMessage
from tests.conftest import PUBLIC_BASE_URL, live_settings, new_sid
from tests.fakes import encode, sign, twilio_form

# From twilio-python's tests/unit/test_request_validator.py (the vectors Twilio's SDKs share).
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = MultiDict({"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
                    "To": "+18005551212", "Caller": "+14158675309"})


@pytest.mark.parametrize(("url", "signature"), [
    (URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    # Twilio may sign with or without the default port; both must pass.
    (URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    (URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
])
def test_published_vectors_validate(url: str, signature: str) -> None:
    """Each of Twilio's published URL/signature pairs is accepted."""
    verify_signature(TOKEN, url, PARAMS, signature)


def test_duplicate_parameters_vector() -> None:
    """Repeated form fields are signed sorted by value (Twilio's multi-value vector)."""
    params = MultiDict([("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
                        ("Digits", "1234")])
    verify_signature(TOKEN, URL, params, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")


@pytest.mark.parametrize("change", [
    lambda p: p.update({"Digits": "1235"}),
    lambda p: p.add("Extra", "1"),
])
def test_tampered_form_is_refused(change) -> None:
    """Changing any signed field invalidates the published signature."""
    params = MultiDict(PARAMS)
    change(params)
    with pytest.raises(WebhookRejected) as refused:
        verify_signature(TOKEN, URL, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert refused.value.status == 403


def test_wrong_token_and_missing_signature_are_refused() -> None:
    """Another account's token, or no signature at all, is a 403."""
    for token, signature in (("54321", "RSOYDt4T1cUTdK1PDd93/VVr8B8="), (TOKEN, None), (TOKEN, "")):
        with pytest.raises(WebhookRejected) as refused:
            verify_signature(token, URL, PARAMS, signature)
        assert refused.value.status == 403


def test_signed_url_keeps_the_raw_query() -> None:
    """The URL checked is the public base plus the exact path and query Twilio called."""
    assert signed_url("https://bot.example.com/", "/twilio/messages?x=1&y=%20") == (
        "https://bot.example.com/twilio/messages?x=1&y=%20")


async def _counts(services) -> tuple[int, int, int]:
    def count(session):
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Contact, InboundMessage, OutboxMessage))
    return await services.store.read(count)


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "RSOYDt4T1cUTdK1PDd93/VVr8B8="])
async def test_bad_signature_gets_403_and_writes_nothing(make_bot, database_url, twilio,
                                                          signature) -> None:
    """A missing or wrong signature is refused before anything reaches the database."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base))
    form = twilio_form(new_sid(), "+14155550100", "hello")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = await bot.client.post("/twilio/messages", data=encode(form), headers=headers)
    assert response.status == 403
    assert await _counts(services) == (0, 0, 0)
    # The same form correctly signed is accepted, so the 403 was about the signature.
    accepted = await bot.post_signed("/twilio/messages", form)
    assert accepted.status == 200
    assert (await _counts(services))[1] == 1


async def test_signature_over_query_string(make_bot, sqlite_url, twilio) -> None:
    """A webhook URL configured with a query string is verified over that exact query."""
    _, base = twilio
    bot, _ = await make_bot(live_settings(sqlite_url, base))
    form = twilio_form(new_sid(), "+14155550100", "hi")
    ok = await bot.post_signed("/twilio/messages?tenant=a%20b", form)
    assert ok.status == 200
    wrong = sign(bot.settings.webhook_token, PUBLIC_BASE_URL + "/twilio/messages?tenant=other", form)
    refused = await bot.client.post("/twilio/messages?tenant=a%20b", data=encode(form), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": wrong})
    assert refused.status == 403
