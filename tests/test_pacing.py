"""Per-sender pacing: a token bucket per sender on the injected clock, in the sender loop."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_section, save_section
from bot.pacing import Pacer, PacingConfig, SenderType, TokenBucket, classify_sender, sender_types
from tests.conftest import live_settings


def test_bucket_holds_the_rate_over_time() -> None:
    """Claiming whatever is available every 10 ms for a minute sends rate × 60 (+1) messages."""
    for rate in (1.0, 3.0, 80.0):
        bucket = TokenBucket.starting(rate, now=0.0)
        sent = 0
        for step in range(6001):
            now = step / 100
            granted = bucket.available(now)
            bucket.take(granted, now)
            sent += granted
        assert sent == pytest.approx(rate * 60 + 1, abs=1)


def test_bucket_saves_up_at_most_one_second() -> None:
    """After a long idle spell a sender may catch up one second's worth, no more."""
    bucket = TokenBucket.starting(3.0, now=0.0)
    assert bucket.available(0.0) == 1
    assert bucket.available(3600.0) == 3


def test_debt_is_paid_back_before_the_next_message() -> None:
    """Spending more than is there (a fallback message) delays the next one accordingly."""
    bucket = TokenBucket.starting(1.0, now=0.0)
    bucket.take(3, 0.0)
    assert bucket.available(2.5) == 0
    assert bucket.seconds_until_next(2.5) == pytest.approx(0.5)
    assert bucket.available(3.0) == 1


@pytest.mark.parametrize(("address", "kind"), [
    ("+14155550100", SenderType.LONG_CODE), ("+18885550100", SenderType.TOLL_FREE),
    ("+18335550100", SenderType.TOLL_FREE), ("12345", SenderType.SHORT_CODE),
    ("whatsapp:+14155550100", SenderType.WHATSAPP), ("+447700900123", SenderType.LONG_CODE),
    (None, None),
])
def test_sender_types(address, kind) -> None:
    """Each sender address is paced as its type; a Messaging Service takes the configured type."""
    assert classify_sender(address) is kind
    assert sender_types("+18885550100", "MG" + "0" * 32)["sms"] is None
    assert PacingConfig(messaging_service=SenderType.SHORT_CODE).rate(None) == 100.0


def test_pacing_is_off_unless_enabled_and_rates_are_validated() -> None:
    """With pacing off there is no limit; rates must be positive."""
    pacer = Pacer({"sms": SenderType.LONG_CODE, "whatsapp": SenderType.WHATSAPP})
    assert pacer.allowance(PacingConfig(), 0.0) is None
    assert pacer.allowance(PacingConfig(enabled=True), 0.0) == {"sms": 1, "whatsapp": 1}
    assert pacer.allowance(PacingConfig(enabled=True), 0.5) == {"sms": 1, "whatsapp": 41}
    with pytest.raises(ConfigError):
        parse_section("pacing", {"long_code": 0})


async def test_sender_keeps_each_senders_rate(make_bot, database_url, twilio, clock) -> None:
    """With pacing on, five SMS replies leave the long code one per second, while WhatsApp (80
    a second) is not held back by the SMS queue."""
    double, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await services.store.write(lambda s: save_section(
        s, "pacing", {"enabled": True}, now=clock.now(), updated_by="op@example.com"))
    for n in range(5):
        await bot.message(f"+1415555{n:04d}", "hi")
        await bot.message(f"whatsapp:+1415555{n:04d}", "hi")
    await services.sender.drain()
    sms = [m for m in double.messages if not m.to.startswith("whatsapp:")]
    assert len(sms) == 1
    clock.advance(seconds=0.5)
    await services.sender.drain()
    assert len(double.messages) - len(sms) == 5  # every WhatsApp reply is out
    for second in range(1, 5):
        clock.advance(seconds=0.5 if second == 1 else 1)
        await services.sender.drain()
        assert len([m for m in double.messages if not m.to.startswith("whatsapp:")]) == second + 1
    assert services.sender.pacer.seconds_until_next(clock.monotonic()) == pytest.approx(1.0)
