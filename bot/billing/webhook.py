"""The second billing port: a signed HTTP webhook to the operator's own backend.

Each action is POSTed as JSON with an ``Idempotency-Key`` header (the same on every retry of
that action), a ``X-Bot-Timestamp`` (Unix seconds) and ``X-Bot-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``BOT_BILLING_WEBHOOK_SECRET``. A 2xx answer is
delivery; 408, 425, 429, 5xx and network errors are retried with backoff; any other answer is a
permanent refusal. The receiver checks the signature with ``verify_signature``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

import aiohttp

from bot.billing.port import Delivery, Outcome, PendingAction
from bot.clock import Clock

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Bot-Signature"
TIMESTAMP_HEADER = "X-Bot-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
SIGNATURE_TOLERANCE = timedelta(minutes=5)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: datetime,
                     tolerance: timedelta = SIGNATURE_TOLERANCE) -> bool:
    """Whether a request really comes from this service and is recent (a receiver's check)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent_at) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)


def action_body(action: PendingAction) -> bytes:
    """The JSON the operator's backend receives for one action."""
    return json.dumps({
        "idempotency_key": action.idempotency_key,
        "action": action.action,
        "customer_id": action.customer_id,
        "params": action.params,
        "requested_at": action.created_at.isoformat(),
    }, separators=(",", ":"), sort_keys=True).encode()


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


class WebhookBilling:
    """Delivers actions to the operator's backend; the backend stays the subscription's
    record and confirms changes through the events API."""

    settles_on_page = False

    def __init__(self, url: str, secret: str, clock: Clock, *, timeout: float = 10.0) -> None:
        self.url = url
        self._secret = secret
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, action: PendingAction) -> Delivery:
        body = action_body(action)
        timestamp = int(self.clock.now().timestamp())
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: action.idempotency_key,
                   TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(self._secret, timestamp, body)}
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                answer = (await response.text())[:200]
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as error:
            return Delivery(action.id, Outcome.RETRY, f"{type(error).__name__}: {error}"[:300])
        if 200 <= status < 300:
            return Delivery(action.id, Outcome.DELIVERED)
        reason = f"HTTP {status}: {answer}".strip()
        if status in RETRYABLE_STATUSES or status >= 500:
            return Delivery(action.id, Outcome.RETRY, reason, retry_after)
        log.warning("billing webhook refused an action",
                    extra={"action_id": action.id, "action": action.action, "status": status})
        return Delivery(action.id, Outcome.FAILED, reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
