"""The retention report: reasons, offers shown and taken by reason, saves, pauses and resumes,
and dunning recovery with its time, for a date range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store.models import Contact, Customer, DunningEpisode, Invoice, RetentionEvent
from tests.business import API_HEADERS, LA_MORNING
from tests.conftest import live_settings

DAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _seed(session) -> None:
    session.add(Customer(id="cus_1", created_at=DAY, updated_at=DAY))
    session.add(Contact(channel="sms", address="+14155550100", customer_id="cus_1", created_at=DAY))
    session.flush()

    def event(kind, reason=None, offer=None, at=DAY):
        session.add(RetentionEvent(customer_id="cus_1", contact_id=1, kind=kind, reason=reason,
                                   offer=offer, at=at))

    for kind, reason, offer in [
        ("cancel_started", None, None), ("reason", "price", None),
        ("offer_shown", "price", "rescue_plan"), ("offer_accepted", "price", "rescue_plan"),
        ("cancel_started", None, None), ("reason", "price", None),
        ("offer_shown", "price", "rescue_plan"), ("offer_declined", "price", "rescue_plan"),
        ("canceled", "price", None),
        ("cancel_started", None, None), ("reason", "not_using", None),
        ("offer_shown", "not_using", "pause"), ("offer_accepted", "not_using", "pause"),
        ("paused", None, None), ("resumed", None, None), ("paused", None, None),
        ("cancel_started", None, None), ("reason", "switching", None),
        ("canceled", "switching", None),
        ("offer_shown", "payment_failed", "discount"),
    ]:
        event(kind, reason, offer)
    event("canceled", "other", at=DAY - timedelta(days=40))  # outside the range
    for number, (status, hours) in enumerate([("recovered", 6), ("recovered", 30), ("lapsed", None),
                                              ("open", None)]):
        session.add(Invoice(id=f"in_{number}", customer_id="cus_1", amount="19.00",
                            currency="USD", created_at=DAY, updated_at=DAY))
        session.flush()
        session.add(DunningEpisode(invoice_id=f"in_{number}", customer_id="cus_1", status=status,
                                   opened_at=DAY, link_expires_at=DAY + timedelta(days=14),
                                   closed_at=DAY + timedelta(hours=hours) if hours else None))


async def test_report_counts_reasons_offers_saves_pauses_and_recovery(make_bot, database_url,
                                                                     twilio, clock):
    """Each figure counts what was recorded in the range, and only that."""
    _, base = twilio
    clock.set(LA_MORNING)
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await services.store.write(_seed)
    response = await bot.client.get("/api/reports/retention?from=2026-02-20&to=2026-03-02",
                                    headers=API_HEADERS)
    report = await response.json()
    assert response.status == 200
    assert (report["from"], report["to"]) == ("2026-02-20T00:00:00+00:00",
                                              "2026-03-03T00:00:00+00:00")
    cancellations = report["cancellations"]
    assert (cancellations["started"], cancellations["canceled"], cancellations["saved"]) == (4, 2, 2)
    assert cancellations["by_reason"]["price"] == {
        "chosen": 2, "offers_shown": {"rescue_plan": 2}, "offers_accepted": {"rescue_plan": 1},
        "saved": 1, "canceled": 1}
    assert cancellations["by_reason"]["not_using"]["offers_accepted"] == {"pause": 1}
    assert cancellations["by_reason"]["other"]["canceled"] == 0
    assert report["offers"] == {
        "rescue_plan": {"shown": 2, "accepted": 1, "declined": 1},
        "pause": {"shown": 1, "accepted": 1, "declined": 0},
        "discount": {"shown": 1, "accepted": 0, "declined": 0}}
    assert report["pauses"] == {"started": 2, "resumed_early": 1}
    assert report["dunning"] == {"opened": 4, "recovered": 2, "lapsed": 1, "open": 1,
                                 "recovery_rate": 0.5,
                                 "hours_to_recovery": {"median": 18.0, "mean": 18.0}}


async def test_report_range_defaults_and_refusals(make_bot, sqlite_url, twilio, clock):
    """Without dates the last 30 days are reported; bad dates are a 400; the token is needed."""
    _, base = twilio
    clock.set(LA_MORNING)
    bot, _ = await make_bot(live_settings(sqlite_url, base), clock=clock)
    report = await (await bot.client.get("/api/reports/retention", headers=API_HEADERS)).json()
    assert (report["from"], report["to"]) == ("2026-02-01T00:00:00+00:00",
                                              "2026-03-03T00:00:00+00:00")
    assert report["dunning"]["recovery_rate"] is None
    for query in ("from=yesterday", "from=2026-03-05&to=2026-03-01", "from=2026-03-01junk"):
        response = await bot.client.get(f"/api/reports/retention?{query}", headers=API_HEADERS)
        assert response.status == 400
    assert (await bot.client.get("/api/reports/retention")).status == 401
