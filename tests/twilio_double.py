"""A local stand-in for Twilio's REST API, for the real twilio client to talk to.

It implements what the service calls — create a message, list messages, create a content —
with Twilio's JSON shapes and error bodies, checks Basic auth, and can be told to fail:
5xx, 429, a permanent error code, or accept a message and then hang (the ambiguous case).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import BasicAuth, web

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "double-auth-token"


@dataclass
class Fault:
    """What the double does instead of a plain success for one create request."""

    status: int = 500
    code: int | None = None
    message: str = "injected failure"
    accept_then_hang: float | None = None
    """Store the message, then wait this long before answering (the client times out)."""
    retry_after: str | None = None
    """A Retry-After header to send with the error (seconds, or an HTTP date)."""
    problem_details: bool = False
    """Answer in RFC 9457 shape (type, title, status, code), as newer Twilio APIs do."""


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    content_sid: str | None
    content_variables: str | None
    status_callback: str | None
    messaging_service_sid: str | None
    created: datetime


@dataclass
class TwilioDouble:
    """State and behaviour of the fake API."""

    messages: list[SentMessage] = field(default_factory=list)
    contents: dict[str, dict] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    requests: int = 0
    list_requests: int = 0
    delay: float = 0.0
    clock: Callable[[], datetime] | None = None
    """Stamps created messages (a test's clock, when it moves time); the real clock otherwise."""

    def fail_next(self, *faults: Fault) -> None:
        """Make the next create requests fail, in order."""
        self.faults.extend(faults)

    def to(self, address: str) -> list[SentMessage]:
        """Messages created for one recipient, in creation order."""
        return [m for m in self.messages if m.to == address]

    def app(self) -> web.Application:
        app = web.Application()
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
        app.router.add_post(f"{base}/Messages.json", self._create)
        app.router.add_get(f"{base}/Messages.json", self._list)
        app.router.add_post("/v1/Content", self._create_content)
        return app

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        try:
            auth = BasicAuth.decode(header)
        except ValueError:
            return False
        return auth.login == ACCOUNT_SID and auth.password == AUTH_TOKEN

    @staticmethod
    def _error(status: int, code: int | None, message: str,
               retry_after: str | None = None) -> web.Response:
        return web.json_response({"code": code, "message": message, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                                 status=status,
                                 headers={"Retry-After": retry_after} if retry_after else None)

    def _resource(self, message: SentMessage) -> dict:
        return {
            "sid": message.sid, "account_sid": ACCOUNT_SID, "to": message.to,
            "from": message.from_, "body": message.body, "status": "queued",
            "messaging_service_sid": message.messaging_service_sid,
            "date_created": format_datetime(message.created), "date_updated":
            format_datetime(message.created), "date_sent": None, "direction": "outbound-api",
            "num_segments": "1", "num_media": "0", "price": None, "price_unit": "USD",
            "error_code": None, "error_message": None, "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json",
            "subresource_uris": {},
        }

    async def _create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.accept_then_hang is None:
            if fault.problem_details:
                return web.json_response({
                    "type": f"https://www.twilio.com/docs/errors/{fault.code}",
                    "title": fault.message, "status": fault.status, "code": fault.code},
                    status=fault.status, content_type="application/problem+json")
            return self._error(fault.status, fault.code, fault.message, fault.retry_after)
        if not form.get("To") or not (form.get("Body") or form.get("ContentSid")):
            return self._error(400, 21602, "Message body is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(400, 21603, "A 'From' phone number is required.")
        body = str(form.get("Body", ""))
        if form.get("ContentSid"):
            body = self.contents.get(str(form["ContentSid"]), {}).get("body", "")
        message = SentMessage(
            sid="SM" + secrets.token_hex(16), to=str(form["To"]), from_=str(form.get("From", "")),
            body=body, content_sid=form.get("ContentSid"),
            content_variables=form.get("ContentVariables"),
            status_callback=form.get("StatusCallback"),
            messaging_service_sid=form.get("MessagingServiceSid"),
            created=(self.clock or (lambda: datetime.now(UTC)))().replace(microsecond=0))
        self.messages.append(message)
        if fault is not None and fault.accept_then_hang is not None:
            await asyncio.sleep(fault.accept_then_hang)
        return web.json_response(self._resource(message), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        self.list_requests += 1
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        to, sender = request.query.get("To"), request.query.get("From")
        found = [m for m in reversed(self.messages)
                 if (not to or m.to == to) and (not sender or m.from_ == sender)]
        size = int(request.query.get("PageSize", "50"))
        return web.json_response({
            "messages": [self._resource(m) for m in found[:size]],
            "first_page_uri": request.path_qs, "next_page_uri": None, "previous_page_uri": None,
            "page": 0, "page_size": size, "uri": request.path_qs, "start": 0, "end": size,
        })

    async def _create_content(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        spec = await request.json()
        sid = "HX" + secrets.token_hex(16)
        types = spec.get("types", {})
        interactive = types.get("twilio/quick-reply") or types.get("twilio/list-picker") or {}
        self.contents[sid] = {"body": interactive.get("body", ""),
                              "actions": interactive.get("actions", []),
                              "button": interactive.get("button"),
                              "items": interactive.get("items", []), "spec": spec}
        return web.json_response({"sid": sid, "account_sid": ACCOUNT_SID,
                                  "friendly_name": spec.get("friendly_name"),
                                  "types": spec.get("types"), "language": "en",
                                  "variables": {}, "url": f"/v1/Content/{sid}"}, status=201)
