"""Structured (JSON line) logs that keep secrets and phone numbers out."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import ClassVar

_PHONE = re.compile(r"(?<![\w])(whatsapp:)?\+?(\d{2,4})\d{3,9}(\d{2})(?![\w])")
_SECRETS = re.compile(r"(?i)(auth_token|authorization|password|secret|token)=([^&\s]+)")


def mask_address(address: str | None) -> str:
    """Show an operator enough of a phone number to tell contacts apart, and no more."""
    if not address:
        return "-"
    prefix = "whatsapp:" if address.startswith("whatsapp:") else ""
    digits = address.removeprefix("whatsapp:")
    if len(digits) <= 6:
        return prefix + "***"
    return f"{prefix}{digits[:4]}…{digits[-2:]}"


def redact(text: str) -> str:
    """Mask phone numbers and key=value secrets in free text."""
    text = _SECRETS.sub(lambda m: f"{m.group(1)}=***", text)
    return _PHONE.sub(lambda m: f"{m.group(1) or ''}+{m.group(2)}…{m.group(3)}", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields passed with ``extra=`` are included, redacted."""

    _standard: ClassVar[frozenset[str]] = frozenset(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in self._standard and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send JSON logs to stderr; keep third-party request logs (which carry bodies) quiet."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # twilio's HTTP client logs request parameters (numbers, bodies) at INFO; aiohttp's access
    # log is per request and sits on the hot path.
    for noisy in ("twilio", "twilio.http_client", "twilio.async_http_client", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
