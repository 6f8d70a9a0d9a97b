"""Property-based tests: whatever arrives, the service answers or refuses with a reason — it
never raises an unhandled exception."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from bot.channels.twilio_webhook import WebhookRejected, decode_form, parse_inbound, parse_status
from bot.faq import FaqLibrary
from bot.i18n import shipped_locales
from bot.keywords import classify_keyword, fold
from bot.links import LinkExpired, LinkInvalid, read_link_token
from bot.messages import Channel, Inbound, Say
from bot.render import Renderer
from bot.segments import LIMITS, Encoding, normalize_for_sms, sms_cost

TWILIO_FIELDS = ["MessageSid", "SmsMessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                 "MediaContentType0", "ButtonPayload", "ProfileName", "MessageStatus",
                 "ErrorCode", "SmsSid", "WaId"]
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
phone_like = st.one_of(
    texts, st.from_regex(r"(whatsapp:)?\+[0-9]{1,16}", fullmatch=True),
    st.just("+14155550100"), st.just("whatsapp:+5511987654321"))
forms = st.dictionaries(st.sampled_from(TWILIO_FIELDS),
                        st.one_of(texts, phone_like, st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True)),
                        max_size=len(TWILIO_FIELDS))
renderer = Renderer(shipped_locales(), "en")
library = FaqLibrary(shipped_locales(), "en")


@given(st.binary(max_size=2000))
def test_any_body_decodes_or_is_refused(body: bytes) -> None:
    """Any bytes decode to a form or are refused with a 400 and a reason."""
    try:
        decode_form(body)
    except WebhookRejected as refused:
        assert refused.status == 400 and refused.reason


@given(forms)
def test_any_form_is_an_inbound_or_a_4xx(form: dict[str, str]) -> None:
    """Any combination of Twilio fields becomes a normalized message or a 4xx with a reason."""
    try:
        inbound = parse_inbound(MultiDict(form))
    except WebhookRejected as refused:
        assert 400 <= refused.status < 500 and refused.reason
        return
    assert inbound.address.startswith("+") and inbound.provider_id


@given(forms)
def test_any_status_form_is_a_report_or_a_4xx(form: dict[str, str]) -> None:
    """Any status callback form becomes a report or a 4xx."""
    try:
        parse_status(MultiDict(form))
    except WebhookRejected as refused:
        assert 400 <= refused.status < 500


@given(texts)
def test_keyword_detection_is_total_and_single_word(text: str) -> None:
    """Any text is classified without error; only single words are keywords, in any case."""
    kind = classify_keyword(text)
    if kind is not None:
        assert " " not in fold(text) and fold(text)
        assert classify_keyword(fold(text).lower()) is kind


@given(st.text(max_size=800))
def test_segment_count_is_consistent(text: str) -> None:
    """Segments agree with the units and per-part limits; UCS-2 exactly when a char needs it."""
    cost = sms_cost(text)
    single, per_part = LIMITS[cost.encoding]
    if not text:
        assert cost.segments == 0
    elif cost.units <= single:
        assert cost.segments == 1
    else:
        # Every part holds at most per_part units; a part closes only when the next character
        # does not fit, so it holds at least per_part - 1.
        assert (cost.segments - 1) * (per_part - 1) < cost.units <= cost.segments * per_part
    assert (cost.encoding is Encoding.UCS2) == bool(cost.non_gsm)


@given(st.text(max_size=400))
def test_normalizing_never_adds_non_gsm_characters(text: str) -> None:
    """Normalization only ever removes reasons for UCS-2."""
    before = set(sms_cost(text).non_gsm)
    after = set(sms_cost(normalize_for_sms(text)).non_gsm)
    assert after <= before


@given(texts)
def test_link_tokens_refuse_anything_not_ours(token: str) -> None:
    """No arbitrary string passes as a signed link."""
    try:
        read_link_token("k", "pay", token, datetime(2026, 1, 1, tzinfo=UTC))
    except (LinkInvalid, LinkExpired):
        return
    pytest.fail("an arbitrary string was accepted as a link token")


@given(texts, st.sampled_from(list(shipped_locales())))
def test_faq_matching_is_total(text: str, locale: str) -> None:
    """Any question in any locale gets a scored match or none, never an error."""
    match = library.book(locale).match(text)
    assert match is None or 0 < match.score <= 100


@given(texts, st.sampled_from(list(Channel)), st.sampled_from(list(shipped_locales())))
def test_rendering_any_answer_text(text: str, channel: Channel, locale: str) -> None:
    """Any answer text renders on both channels in every locale and is in the message."""
    rendered = renderer.render(Say("faq.answer", {"answer": text, "title": "t"}), channel, locale)
    expected = normalize_for_sms(text) if channel is Channel.SMS else text
    assert expected.strip() == "" or expected.strip().splitlines()[0].rstrip() in rendered.body


_sids = itertools.count(1)


@pytest.fixture
def services(sqlite_url):
    """Services over a fresh SQLite database; a test's examples share them (building is slow)."""
    from bot.services import build_services
    from bot.settings import Settings

    services = build_services(Settings(database_url=sqlite_url))
    yield services
    services.store.close()


@settings(max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(texts, st.sampled_from(list(Channel)),
                          st.one_of(st.none(), texts)), min_size=1, max_size=6))
def test_any_conversation_is_handled(services, messages) -> None:
    """Arbitrary messages and button payloads through the whole engine: every one is recorded
    and handled, in one transaction per batch."""
    items = [Inbound(channel=channel, address="+14155550100", text=text, payload=payload,
                     provider_id=f"SM{next(_sids):032x}")
             for text, channel, payload in messages]
    batch = services.store.write_sync(
        lambda session: services.processor.process(session, items, datetime.now(UTC)))
    assert len(batch.outcomes) == len(items)
    assert all(outcome != "duplicate" for outcome in batch.outcomes)


# -- business events and operators' templates ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12)
field_values = st.one_of(json_values, phone_like, st.sampled_from(
    ["America/New_York", "Mars/Base", "es", "pt-BR", "xx", "USD", "19.00", "-1", "in_1", "cus_1",
     "https://pay.example.com/x", "javascript:alert(1)", "2026-11-01T10:00:00Z", "yesterday"]))
event_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({
        "id": st.one_of(texts, st.just("evt_1")),
        "type": st.sampled_from(["customer.upserted", "payment.failed", "payment.succeeded",
                                 "subscription.updated", "refund.created"]),
        "customer_id": field_values,
        "invoice_id": field_values,
        "customer": st.dictionaries(st.sampled_from(
            ["id", "phone", "whatsapp", "locale", "timezone", "plan", "status", "consent",
             "billing_contact", "currency", "extra"]), field_values, max_size=8),
        "invoice": st.dictionaries(st.sampled_from(["id", "amount", "currency", "hosted_url"]),
                                   field_values, max_size=4),
        "subscription": st.dictionaries(texts, field_values, max_size=3),
    }))


@settings(max_examples=120,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event_bodies)
def test_any_event_is_accepted_or_refused_with_reasons(services, body) -> None:
    """Whatever JSON the business sends, POST /api/events's path ends in an acceptance or a
    refusal naming fields — never an unhandled error (which would be a 500)."""
    from bot.event_intake import EventConflict
    from bot.events import EventInvalid, parse_event

    try:
        event = parse_event(body)
        services.store.write_sync(lambda session: services.events.accept(
            session, event, body, datetime.now(UTC)))
    except EventInvalid as invalid:
        assert invalid.problems and all(p.reason for p in invalid.problems)
    except EventConflict:
        pass


jinja_pieces = st.sampled_from(
    ["{{ answer }}", "{{ brand }}", "{{ nope }}", "{{", "}}", "{% if again %}", "{% endif %}",
     "{% trans %}", "{% endtrans %}", "{% for x in y %}", "{{ answer|upper }}",
     "{{ ''.__class__ }}", "{% include 'x' %}", "Reply STOP", "€", "😜", "\n", "%", "{#", "#}"])
template_sources = st.lists(st.one_of(texts, jinja_pieces), max_size=12).map("".join)


@settings(max_examples=150)
@given(template_sources, st.sampled_from(list(Channel)),
       st.sampled_from(list(shipped_locales())))
def test_any_template_source_gets_a_verdict(source: str, channel: Channel, locale: str) -> None:
    """An operator's text — broken jinja, sandbox escapes, odd characters — is checked and
    answered with problems or accepted; the checker itself never fails."""
    from bot.message_specs import load_message_specs
    from bot.template_lint import check_template

    spec = load_message_specs()["faq.answer"]
    check = check_template(source, spec, channel, locale, renderer)
    assert check.ok or all(p.message for p in check.errors)
