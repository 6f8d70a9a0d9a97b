"""The sender's pure rules: backoff, error classification, status ordering."""

from __future__ import annotations

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from bot.channels.transport import FailureKind
from bot.channels.twilio_rest import classify, retry_after_seconds
from bot.sender import backoff_delay
from bot.status import advances, canonical_status, our_status


def test_backoff_grows_exponentially_with_equal_jitter() -> None:
    """Attempt n waits between half and all of base·2^(n-1) seconds."""
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 64)]:
        assert backoff_delay(attempt, lambda: 0.0) == ceiling / 2
        assert backoff_delay(attempt, lambda: 1.0) == ceiling


def test_backoff_is_capped_and_respects_retry_after() -> None:
    """No wait exceeds the cap, and none is shorter than the provider's Retry-After."""
    assert backoff_delay(30, lambda: 1.0) == 300
    assert backoff_delay(1, lambda: 0.0, retry_after=42) == 42


def _twilio_error(status: int, code: int | None) -> TwilioRestException:
    return TwilioRestException(status, "https://api.twilio.com/x", "msg", code)


@pytest.mark.parametrize(("error", "kind"), [
    (_twilio_error(429, 20429), FailureKind.TRANSIENT),
    (_twilio_error(400, 30001), FailureKind.TRANSIENT),
    (_twilio_error(500, None), FailureKind.AMBIGUOUS),
    (_twilio_error(503, 20500), FailureKind.AMBIGUOUS),
    (_twilio_error(400, 21610), FailureKind.PERMANENT),
    (_twilio_error(400, 21211), FailureKind.PERMANENT),
    (_twilio_error(400, 21614), FailureKind.PERMANENT),
    (_twilio_error(400, 63003), FailureKind.PERMANENT),
    (_twilio_error(400, 63016), FailureKind.PERMANENT),
    # Newer Twilio APIs answer with RFC 9457 problem details, which the SDK raises differently.
    (TwilioServiceException("https://www.twilio.com/docs/errors/20429", "Too Many Requests", 429,
                            20429), FailureKind.TRANSIENT),
    (TwilioServiceException("https://www.twilio.com/docs/errors/21610", "Unsubscribed", 400,
                            21610), FailureKind.PERMANENT),
    (TwilioServiceException("about:blank", "Internal Server Error", 500, 20500),
     FailureKind.AMBIGUOUS),
    (TimeoutError(), FailureKind.AMBIGUOUS),
    (aiohttp.ServerDisconnectedError(), FailureKind.AMBIGUOUS),
])
def test_errors_are_classified(error: Exception, kind: FailureKind) -> None:
    """Each error maps to retry (transient), look-then-retry (ambiguous) or stop (permanent)."""
    assert classify(error).kind is kind


def test_classify_reraises_programming_errors() -> None:
    """A bug is not disguised as a delivery failure."""
    with pytest.raises(KeyError):
        classify(KeyError("oops"))


@pytest.mark.parametrize(("current", "reported", "moves"), [
    ("sending", "sent", True),
    ("sent", "delivered", True),
    ("delivered", "read", True),
    ("sent", "failed", True),
    ("delivered", "sent", False),
    ("read", "delivered", False),
    ("failed", "delivered", False),
    ("undelivered", "read", False),
    ("sent", "queued", False),
    ("sent", "teleported", False),
    ("sent", "canceled", True),
    ("sent", "received", False),
    ("failed", "canceled", False),
])
def test_status_never_moves_backwards(current: str, reported: str, moves: bool) -> None:
    """Later statuses replace earlier ones; earlier or unknown ones are ignored."""
    assert advances(current, reported) is moves


def test_twilio_in_flight_statuses_mean_sent() -> None:
    """queued/accepted/sending at Twilio are all 'sent' from the outbox's point of view."""
    assert {our_status(s) for s in ("queued", "accepted", "sending", "sent")} == {"sent"}
    assert our_status("delivered") == "delivered"


def test_twilio_end_statuses_map_to_ours() -> None:
    """A message canceled at Twilio failed; a partly delivered one counts as delivered."""
    assert our_status("canceled") == "failed"
    assert our_status(canonical_status("partially_delivered")) == "delivered"


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "30"}, 30.0),
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT", "Date": "Wed, 21 Oct 2026 07:28:00 GMT"},
     30.0),
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT"}, None),
    ({"Retry-After": "soon"}, None),
    ({}, None),
    ({"Retry-After": "-5"}, 0.0),
    ({"Retry-After": "1e12"}, 3600.0),  # a day's or a year's wait is retried within the hour
    ({"Retry-After": "inf"}, None),
    ({"Retry-After": "nan"}, None),
])
def test_retry_after_is_read_as_seconds(headers: dict[str, str], seconds: float | None) -> None:
    """Retry-After counts as seconds, or as an HTTP date against the response's Date header;
    at most an hour, and nothing that is no number of seconds."""
    assert retry_after_seconds(headers) == seconds


def test_a_transient_failure_keeps_retry_after() -> None:
    """The provider's Retry-After travels with a 429's classification."""
    assert classify(_twilio_error(429, 20429), retry_after=30.0).retry_after == 30.0
