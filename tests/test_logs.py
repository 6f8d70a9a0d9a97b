"""Logs: structured, and free of secrets and full phone numbers."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, mask_address, redact
from tests.conftest import live_settings
from tests.twilio_double import AUTH_TOKEN, Fault

NUMBERS = ("14155550100", "5511987654321")
SERVICE_LOGGERS = ("bot", "flows", "twilio", "statemachine", "sqlalchemy", "aiohttp.server",
                   "aiohttp.web", "asyncio")


def test_mask_keeps_enough_to_tell_contacts_apart() -> None:
    assert mask_address("+14155550100") == "+141…00"
    assert mask_address("whatsapp:+5511987654321") == "whatsapp:+551…21"


def test_redact_masks_numbers_and_secrets() -> None:
    text = redact("to=+14155550100 auth_token=abc123 from whatsapp:+5511987654321")
    assert "+14155550100" not in text and "abc123" not in text and "987654321" not in text


def test_json_formatter_redacts_extra_fields() -> None:
    record = logging.makeLogRecord({"msg": "sending to %s", "args": ("+14155550100",),
                                    "levelname": "INFO", "to": "+14155550100"})
    entry = json.loads(JsonFormatter().format(record))
    assert "+14155550100" not in json.dumps(entry)
    assert entry["level"] == "info"


async def test_a_conversation_with_failures_logs_no_numbers_or_tokens(make_bot, sqlite_url, twilio,
                                                                       clock, caplog) -> None:
    """Drive inbound, failing sends and retries with every logger at DEBUG, then scan it all."""
    double, base = twilio
    caplog.set_level(logging.DEBUG)
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    double.fail_next(Fault(500), Fault(400, 21211, "Invalid 'To' Phone Number"))
    await bot.message("+14155550100", "hi")
    await bot.message("whatsapp:+5511987654321", "hi")
    await services.sender.drain()
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records
             if record.name.startswith(SERVICE_LOGGERS)]
    assert any("send failed" in line for line in lines)
    for line in lines:
        assert not any(number in line for number in NUMBERS), line
        assert AUTH_TOKEN not in line
