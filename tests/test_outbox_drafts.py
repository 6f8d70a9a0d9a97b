"""What a WhatsApp row keeps for the gate's fallback, and the keys of re-targeted rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.messages import Channel, Choice, Say
from bot.outbox_drafts import MAX_BUSINESS_KEY, derived_key, render_args, say_from


def test_render_args_round_trip_the_types_templates_format() -> None:
    """Money, dates and moments come back as the same types, inside lists and mappings too."""
    say = Say("dunning.notice", {
        "amount": Decimal("19.00"), "due": date(2026, 12, 1),
        "at": datetime(2026, 11, 1, 10, 0, tzinfo=UTC), "lines": [{"price": Decimal("1.50")}],
        "name": "Ana", "count": 2, "ok": True, "missing": None},
        [Choice("pay:open", "Pay now")])
    back, locale = say_from(render_args(say, "pt_BR"))
    assert locale == "pt_BR"
    assert back == say


def test_nothing_kept_means_no_message() -> None:
    """A row without render args (SMS) cannot be re-rendered."""
    assert say_from(None) == (None, "")


def test_derived_keys_are_stable_and_fit_the_column() -> None:
    """The same message re-targeted twice gets the same key; a long key is hashed to fit."""
    assert derived_key("dunning:in_1:2", Channel.SMS) == "dunning:in_1:2>sms"
    long = "x" * 199
    assert derived_key(long, Channel.SMS) == derived_key(long, Channel.SMS)
    assert len(derived_key(long, Channel.SMS)) <= MAX_BUSINESS_KEY
