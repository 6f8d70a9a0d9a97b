"""Sending through Twilio's REST API with the twilio package's async client.

Every request goes to ``TWILIO_API_BASE_URL`` (Twilio itself, or a sandbox/test double), over
one shared aiohttp session.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.base.version import Version
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

from bot.addresses import to_channel_address
from bot.channels.transport import FailureKind, OutgoingMessage, SendFailure
from bot.messages import Channel

log = logging.getLogger(__name__)

TRANSIENT_CODES = frozenset({20429, 30001})
CLOCK_SKEW = timedelta(seconds=60)
MAX_RETRY_AFTER = 3600.0
"""A longer Retry-After is read as an hour: the message is retried, not parked for days."""


class BaseUrlHttpClient(AsyncHttpClient):
    """twilio's async HTTP client contract, pointed at a configurable base URL.

    The stock client ignores JSON bodies (the Content API needs them) and always talks to
    *.twilio.com; this one rewrites the host and keeps one pooled session.
    """

    def __init__(self, base_url: str, timeout: float = 15.0, pool_size: int = 100) -> None:
        super().__init__(logger=log, is_async=True, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _target(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith("twilio.com"):
            return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return url

    async def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_size))
        headers = dict(headers or {})
        if auth:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {credentials}"
        payload: object = data
        if headers.get("Content-Type", "").endswith("json"):
            payload = json.dumps(data or {})
        async with self._session.request(
            method, self._target(uri), params=params, headers=headers, data=payload,
            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            result = Response(response.status, text, response.headers)
        if response.status == 429:
            # twilio's exception keeps no headers, so Retry-After is read here.
            raise classify(Version.exception(method, uri, result, "Too many requests"),
                           retry_after=retry_after_seconds(response.headers))
        return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """A response's Retry-After in seconds: a number, or an HTTP date read against the
    response's own Date (no local clock involved), at most MAX_RETRY_AFTER; None when absent or
    unreadable."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            until, sent = parsedate_to_datetime(value), parsedate_to_datetime(headers["Date"])
        except (KeyError, TypeError, ValueError):
            return None
        seconds = (until - sent).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def classify(error: Exception, *, retry_after: float | None = None) -> SendFailure:
    """Map a client error to what the retry policy should do with it (``retry_after``: the
    provider's Retry-After, kept for a transient failure)."""
    if isinstance(error, TwilioRestException | TwilioServiceException):
        # The SDK raises the second for APIs answering in RFC 9457 "problem details".
        code = error.code if isinstance(error.code, int) else None
        said = error.msg if isinstance(error, TwilioRestException) else (error.detail
                                                                       or error.title)
        reason = f"Twilio {error.status}" + (f" error {code}" if code else "") + f": {said}"
        if error.status == 429 or code in TRANSIENT_CODES:
            return SendFailure(FailureKind.TRANSIENT, reason, code, retry_after)
        if error.status >= 500:
            return SendFailure(FailureKind.AMBIGUOUS, reason, code)
        return SendFailure(FailureKind.PERMANENT, reason, code)
    if isinstance(error, aiohttp.ClientConnectorError):
        return SendFailure(FailureKind.TRANSIENT, f"cannot connect: {error}")
    if isinstance(error, (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError)):
        return SendFailure(FailureKind.AMBIGUOUS, f"no answer: {type(error).__name__}")
    raise error


class TwilioTransport:
    """Sends SMS and WhatsApp messages through Twilio."""

    def __init__(self, account_sid: str, auth_token: str, *, base_url: str, status_callback: str,
                 sms_from: str | None, messaging_service_sid: str | None,
                 whatsapp_from: str | None, timeout: float = 15.0) -> None:
        self.http = BaseUrlHttpClient(base_url, timeout)
        self.timeout = timeout
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.status_callback = status_callback
        self.sms_from = sms_from
        self.messaging_service_sid = messaging_service_sid
        self.whatsapp_from = whatsapp_from
        self._contents: dict[str, str] = {}

    def _sender(self, channel: Channel) -> dict[str, str]:
        if channel is Channel.WHATSAPP:
            if not self.whatsapp_from:
                raise SendFailure(FailureKind.PERMANENT, "no WhatsApp sender (TWILIO_WHATSAPP_FROM)")
            return {"from_": self.whatsapp_from}
        if self.messaging_service_sid:
            return {"messaging_service_sid": self.messaging_service_sid}
        if not self.sms_from:
            raise SendFailure(FailureKind.PERMANENT, "no SMS sender (TWILIO_SMS_FROM)")
        return {"from_": self.sms_from}

    async def send(self, message: OutgoingMessage) -> str:
        """Create the message; WhatsApp choices become a quick-reply or list-picker content."""
        params: dict[str, Any] = {
            "to": to_channel_address(message.channel, message.to),
            "status_callback": self.status_callback,
            **self._sender(message.channel),
        }
        try:
            if message.content_sid:
                params["content_sid"] = message.content_sid
                if message.content_variables:
                    params["content_variables"] = json.dumps(message.content_variables)
            elif _interactive(message):
                params["content_sid"] = await self._session_content(message)
            else:
                params["body"] = message.body
            created = await self.client.messages.create_async(**params)
        except SendFailure:
            raise
        except Exception as error:
            raise classify(error) from error
        return str(created.sid)

    async def _session_content(self, message: OutgoingMessage) -> str:
        """A session content for this exact text and choices (created once, cached): a
        quick-reply, or a list picker when the message has a list button."""
        if message.list_button:
            kind, prefix = "twilio/list-picker", "bot_list"
            spec: dict[str, Any] = {
                "body": message.body, "button": message.list_button,
                "items": [{"item": c.title, "id": c.payload} for c in message.buttons]}
        else:
            kind, prefix = "twilio/quick-reply", "bot_qr"
            spec = {"body": message.body,
                    "actions": [{"title": c.title, "id": c.payload} for c in message.buttons]}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]
        sid = self._contents.get(digest)
        if sid is None:
            # The text type is what channels without interactive messages show instead.
            request = ContentList.ContentCreateRequest({
                "friendly_name": f"{prefix}_{digest}",
                "types": {kind: spec, "twilio/text": {"body": message.body}},
            })
            created = await self.client.content.v1.contents.create_async(request)
            sid = self._contents[digest] = str(created.sid)
        return sid

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> list[str]:
        """Messages to this recipient from our sender created since ``since``, newest first."""
        sender = self._sender(message.channel)
        filters: dict[str, Any] = {"to": to_channel_address(message.channel, message.to),
                                   "limit": 50, "page_size": 50}
        if "from_" in sender:
            filters["from_"] = sender["from_"]
        try:
            found = await self.client.messages.list_async(**filters)
        except SendFailure:
            raise
        except Exception as error:
            raise classify(error) from error
        return [
            str(item.sid) for item in found
            if item.date_created is not None and item.date_created >= since - CLOCK_SKEW
            and _same_text(item.body, message)
        ]

    async def close(self) -> None:
        await self.http.close()


def _same_text(listed: str | None, message: OutgoingMessage) -> bool:
    """Whether a listed message's body can be ``message``: an approved template's is Twilio's
    own wording (any body may match), a session content's is our text when Twilio lists one."""
    if message.content_sid:
        return True
    if _interactive(message):
        return not listed or listed == message.body
    return listed == message.body


def _interactive(message: OutgoingMessage) -> bool:
    """Whether the message goes out as a session content with its choices, not as plain text."""
    return bool(message.buttons) and message.channel is Channel.WHATSAPP
