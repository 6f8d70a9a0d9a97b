"""The billing port: the local ledger's rules, recorded actions applied once, and the signed
webhook to the operator's backend — retried with backoff, once per idempotency key, in order."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.billing.accounts import Status, account_of, effective_status
from bot.billing.actions import BillingRequest, record_requests
from bot.billing.ledger import Action, apply_action
from bot.billing.port import LocalLedger
from bot.billing.relay import BillingRelay, claim_actions
from bot.billing.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookBilling,
    sign,
    verify_signature,
)
from bot.services import build_services, default_billing
from bot.settings import Settings, SettingsError
from bot.store.database import Store
from bot.store.models import BillingAction, Customer
from tests.business import PHONE, customer_upserted, send
from tests.conftest import live_settings
from tests.fakes import FrozenClock

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
SECRET = "webhook-secret"


def _customer(**fields) -> Customer:
    values = dict(id="cus_1", status="active", plan="pro", created_at=NOW, updated_at=NOW)
    values.update(fields)
    return Customer(**values)


def test_ledger_pause_resume_and_the_pause_streak() -> None:
    """A pause sets its end and streak; resuming early ends it now, keeping the streak."""
    customer = _customer()
    apply_action(customer, Action.PAUSE, {"until": "2026-04-02T07:00:00+00:00", "streak": 2}, NOW)
    assert (customer.status, customer.pause_streak) == (Status.PAUSED, 2)
    assert effective_status(customer, NOW) == Status.PAUSED
    assert effective_status(customer, datetime(2026, 4, 2, 7, 0, tzinfo=UTC)) == Status.ACTIVE
    later = NOW + timedelta(days=3)
    apply_action(customer, Action.RESUME, {}, later)
    assert (customer.status, customer.paused_until, customer.pause_streak) == (
        Status.ACTIVE, later, 2)


def test_ledger_cancel_at_period_end_or_at_once_and_resubscribe() -> None:
    """A cancellation runs until its date; one effective now cancels at once; resubscribing
    clears it."""
    customer = _customer()
    end = NOW + timedelta(days=10)
    apply_action(customer, Action.CANCEL, {"effective_at": end.isoformat()}, NOW)
    assert customer.status == Status.ACTIVE and customer.cancel_at == end
    account = account_of(customer, NOW)
    assert account.cancellation_pending and not account.is_canceled
    assert effective_status(customer, end) == Status.CANCELED
    apply_action(customer, Action.RESUBSCRIBE, {"plan": "pro"}, end)
    assert (customer.status, customer.cancel_at) == (Status.ACTIVE, None)
    apply_action(customer, Action.CANCEL, {"effective_at": NOW.isoformat()}, NOW)
    assert customer.status == Status.CANCELED


def test_ledger_concessions_do_not_stack_silently() -> None:
    """A rescue plan, a discount and a trial extension each mark a running concession."""
    customer = _customer(current_period_end=NOW + timedelta(days=5))
    apply_action(customer, Action.DISCOUNT, {"percent": 20, "cycles": 1}, NOW)
    assert customer.concession == "discount"
    assert customer.concession_until == NOW + timedelta(days=36)
    assert account_of(customer, NOW).has_concession
    rescued = _customer()
    apply_action(rescued, Action.CHANGE_PLAN, {"plan": "saver", "why": "rescue"}, NOW)
    assert (rescued.plan, rescued.concession) == ("saver", "rescue_plan")
    assert not account_of(rescued, NOW + timedelta(days=366)).has_concession
    plain = _customer()
    apply_action(plain, Action.CHANGE_PLAN, {"plan": "lite", "why": "right_size"}, NOW)
    assert plain.concession is None
    trial = _customer(status="trialing", trial_ends_at=NOW + timedelta(days=2))
    apply_action(trial, Action.EXTEND_TRIAL, {"until": (NOW + timedelta(days=16)).isoformat()}, NOW)
    assert trial.trial_extended and trial.trial_ends_at == NOW + timedelta(days=16)
    assert effective_status(trial, NOW + timedelta(days=10)) == Status.TRIALING
    with pytest.raises(ValueError, match="unknown billing action"):
        apply_action(plain, "refund_everything", {}, NOW)


def _seed_customer(store: Store, customer_id: str = "cus_1") -> None:
    store.write_sync(lambda s: s.add(_customer(id=customer_id)))


def _request(key: str, action: str = Action.PAUSE, customer_id: str = "cus_1",
             **params) -> BillingRequest:
    params = params or {"until": (NOW + timedelta(days=30)).isoformat(), "streak": 1}
    return BillingRequest(customer_id, action, params, key, NOW)


def test_a_request_is_recorded_and_applied_once(database_url: str) -> None:
    """The same idempotency key twice is one action, applied to the ledger once."""
    store = Store(database_url)
    _seed_customer(store)
    first = store.write_sync(lambda s: record_requests(s, [_request("pause:cus_1:SM1")]))
    again = store.write_sync(lambda s: record_requests(s, [
        _request("pause:cus_1:SM1", until=(NOW + timedelta(days=90)).isoformat(), streak=5)]))
    assert (first, again) == (["pause:cus_1:SM1"], [])
    customer = store.read_sync(lambda s: s.get(Customer, "cus_1"))
    assert (customer.pause_streak, customer.paused_until) == (1, NOW + timedelta(days=30))
    rows = store.read_sync(lambda s: s.query(BillingAction).all())
    assert [(r.action, r.status) for r in rows] == [("pause", "pending")]
    store.close()


async def test_local_ledger_marks_actions_applied(database_url: str) -> None:
    """With the local ledger the relay has nothing to send: every action ends up applied."""
    store = Store(database_url)
    _seed_customer(store)
    store.write_sync(lambda s: record_requests(s, [_request("k1"), _request("k2", Action.RESUME)]))
    relay = BillingRelay(store, LocalLedger(), FrozenClock(NOW))
    assert await relay.drain() == 2
    rows = store.read_sync(lambda s: s.query(BillingAction).order_by(BillingAction.id).all())
    assert [(r.status, r.done_at) for r in rows] == [("applied", NOW), ("applied", NOW)]
    store.close()


@dataclass
class Backend:
    """The operator's backend, as a test double: records requests and answers each
    idempotency key as told (200 once told nothing more)."""

    answers: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def answer(self, key: str, *answers: tuple[int, dict[str, str]]) -> None:
        self.answers.setdefault(key, deque()).extend(answers)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        queue = self.answers.get(request.headers[IDEMPOTENCY_HEADER])
        status, headers = queue.popleft() if queue else (200, {})
        return web.Response(status=status, text="answer", headers=headers)


@pytest.fixture
async def backend():
    double = Backend()
    app = web.Application()
    app.router.add_post("/billing", double.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield double, str(server.make_url("/billing"))
    finally:
        await server.close()


def _relay(store: Store, url: str, clock: FrozenClock) -> BillingRelay:
    return BillingRelay(store, WebhookBilling(url, SECRET, clock), clock, rng=lambda: 0.0)


async def test_webhook_requests_are_signed_and_carry_the_idempotency_key(database_url, backend):
    """Each action is POSTed as JSON with its idempotency key and an HMAC-SHA256 signature over
    the timestamp and body that the receiver can check."""
    double, url = backend
    store = Store(database_url)
    _seed_customer(store)
    store.write_sync(lambda s: record_requests(s, [_request("pause:cus_1:SM1")]))
    clock = FrozenClock(NOW)
    relay = _relay(store, url, clock)
    assert await relay.drain() == 1
    await relay.port.close()
    [(headers, body)] = double.received
    assert headers[IDEMPOTENCY_HEADER] == "pause:cus_1:SM1"
    assert headers[TIMESTAMP_HEADER] == str(int(NOW.timestamp()))
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], NOW)
    assert json.loads(body) == {
        "idempotency_key": "pause:cus_1:SM1", "action": "pause", "customer_id": "cus_1",
        "params": {"until": (NOW + timedelta(days=30)).isoformat(), "streak": 1},
        "requested_at": NOW.isoformat()}
    [row] = store.read_sync(lambda s: s.query(BillingAction).all())
    assert (row.status, row.attempts, row.done_at) == ("delivered", 1, NOW)
    store.close()


def test_signature_check_refuses_tampering_and_replays() -> None:
    """A changed body, a wrong secret or an old timestamp fail the receiver's check."""
    body = b'{"action":"pause"}'
    stamp = int(NOW.timestamp())
    good = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, str(stamp), body, good, NOW)
    assert not verify_signature(SECRET, str(stamp), body + b" ", good, NOW)
    assert not verify_signature("other", str(stamp), body, good, NOW)
    assert not verify_signature(SECRET, str(stamp), body, good, NOW + timedelta(minutes=6))
    assert not verify_signature(SECRET, "yesterday", body, good, NOW)


async def test_webhook_retries_with_backoff_then_delivers_with_the_same_key(database_url, backend):
    """A 503 and a 429 (Retry-After) are retried later with the same idempotency key."""
    double, url = backend
    double.answer("pause:cus_1:SM1", (503, {}), (429, {"Retry-After": "120"}))
    store = Store(database_url)
    _seed_customer(store)
    store.write_sync(lambda s: record_requests(s, [_request("pause:cus_1:SM1")]))
    clock = FrozenClock(NOW)
    relay = _relay(store, url, clock)
    assert await relay.drain() == 1
    row = store.read_sync(lambda s: s.query(BillingAction).one())
    assert (row.status, row.due_at, row.last_error) == ("pending", NOW + timedelta(seconds=1),
                                                        "HTTP 503: answer")
    clock.advance(seconds=1)
    await relay.drain()
    row = store.read_sync(lambda s: s.query(BillingAction).one())
    assert row.due_at == NOW + timedelta(seconds=121)  # Retry-After wins over the backoff
    clock.advance(seconds=120)
    await relay.drain()
    await relay.port.close()
    row = store.read_sync(lambda s: s.query(BillingAction).one())
    assert (row.status, row.attempts) == ("delivered", 3)
    assert {h[IDEMPOTENCY_HEADER] for h, _ in double.received} == {"pause:cus_1:SM1"}
    store.close()


async def test_a_refusal_is_final(database_url, backend):
    """A 4xx other than 408/425/429 is a permanent refusal: failed, never retried."""
    double, url = backend
    double.answer("k1", (422, {}))
    store = Store(database_url)
    _seed_customer(store)
    store.write_sync(lambda s: record_requests(s, [_request("k1")]))
    clock = FrozenClock(NOW)
    relay = _relay(store, url, clock)
    await relay.drain()
    clock.advance(hours=1)
    assert await relay.drain() == 0
    await relay.port.close()
    row = store.read_sync(lambda s: s.query(BillingAction).one())
    assert (row.status, row.last_error) == ("failed", "HTTP 422: answer")
    assert len(double.received) == 1
    store.close()


async def test_a_customers_actions_are_delivered_in_order(database_url, backend):
    """While a customer's pause waits for a retry, their resume waits behind it; another
    customer's action is not held up."""
    double, url = backend
    double.answer("pause:cus_1", (500, {}))
    store = Store(database_url)
    _seed_customer(store)
    _seed_customer(store, "cus_2")
    store.write_sync(lambda s: record_requests(s, [
        _request("pause:cus_1"), _request("resume:cus_1", Action.RESUME, dummy=1),
        _request("pause:cus_2", customer_id="cus_2")]))
    clock = FrozenClock(NOW)
    relay = _relay(store, url, clock)
    await relay.drain()
    keys = [h[IDEMPOTENCY_HEADER] for h, _ in double.received]
    assert sorted(keys) == ["pause:cus_1", "pause:cus_2"]
    clock.advance(seconds=5)
    await relay.drain()
    await relay.port.close()
    keys = [h[IDEMPOTENCY_HEADER] for h, _ in double.received]
    assert keys[2:] == ["pause:cus_1", "resume:cus_1"]
    store.close()


async def test_a_delivery_cut_short_is_handed_over_again_with_the_same_key(database_url, backend):
    """If the process dies after claiming an action, its lease runs out and it is delivered
    again under the same key — the backend applies it once."""
    double, url = backend
    store = Store(database_url)
    _seed_customer(store)
    store.write_sync(lambda s: record_requests(s, [_request("pause:cus_1:SM1")]))
    claimed = store.write_sync(lambda s: claim_actions(s, NOW, 10, timedelta(seconds=60)))
    assert [a.idempotency_key for a in claimed] == ["pause:cus_1:SM1"]
    clock = FrozenClock(NOW + timedelta(seconds=30))
    relay = _relay(store, url, clock)
    assert await relay.drain() == 0  # still leased
    clock.advance(seconds=31)
    assert await relay.drain() == 1
    await relay.port.close()
    row = store.read_sync(lambda s: s.query(BillingAction).one())
    assert (row.status, row.attempts) == ("delivered", 2)
    assert [h[IDEMPOTENCY_HEADER] for h, _ in double.received] == ["pause:cus_1:SM1"]
    store.close()


async def test_an_unreachable_backend_is_retried(database_url):
    """A connection error counts as transient."""
    store = Store(database_url)
    _seed_customer(store)
    store.write_sync(lambda s: record_requests(s, [_request("k1")]))
    relay = _relay(store, "http://127.0.0.1:9/billing", FrozenClock(NOW))
    await relay.drain()
    await relay.port.close()
    row = store.read_sync(lambda s: s.query(BillingAction).one())
    assert row.status == "pending" and row.last_error.startswith("Client")
    store.close()


def test_webhook_settings_come_together() -> None:
    """The webhook needs both its URL and its secret; with them it replaces the local ledger."""
    with pytest.raises(SettingsError, match="BOT_BILLING_WEBHOOK_SECRET"):
        Settings.from_env({"BOT_BILLING_WEBHOOK_URL": "https://billing.example.com/hook"})
    with pytest.raises(SettingsError, match="http"):
        Settings.from_env({"BOT_BILLING_WEBHOOK_URL": "ftp://x", "BOT_BILLING_WEBHOOK_SECRET": "s"})
    settings = Settings.from_env({"BOT_BILLING_WEBHOOK_URL": "https://billing.example.com/hook",
                                  "BOT_BILLING_WEBHOOK_SECRET": "s3cret"})
    assert "s3cret" not in repr(settings)
    assert isinstance(default_billing(settings, FrozenClock(NOW)), WebhookBilling)
    assert isinstance(default_billing(Settings(), FrozenClock(NOW)), LocalLedger)


def test_services_start_the_relay_with_the_configured_port(sqlite_url: str) -> None:
    """Services carry the port the settings chose, and the relay delivers through it."""
    services = build_services(Settings(database_url=sqlite_url))
    assert services.relay.port is services.billing
    assert isinstance(services.billing, LocalLedger)
    services.store.close()


async def test_a_flow_action_reaches_the_operators_backend(make_bot, database_url, twilio, clock,
                                                           backend):
    """The cancel flow does not know the port: with the webhook configured, the cancellation a
    customer asks for in chat reaches the operator's backend, signed, keyed by their message."""
    double, url = backend
    _, base = twilio
    clock.set(NOW)
    bot, services = await make_bot(live_settings(database_url, base, billing_webhook_url=url,
                                                 billing_webhook_secret=SECRET), clock=clock)
    await send(bot, customer_upserted(current_period_end=(NOW + timedelta(days=9)).isoformat()))
    await bot.message(PHONE, "cancel my subscription")
    await bot.message(PHONE, "4", sid="SM" + "c" * 32)
    assert await services.relay.drain() == 1
    [(headers, body)] = double.received
    assert headers[IDEMPOTENCY_HEADER] == "cancel:cus_1:SM" + "c" * 32
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], NOW)
    assert json.loads(body)["params"] == {"effective_at": (NOW + timedelta(days=9)).isoformat(),
                                          "reason": "switching"}
