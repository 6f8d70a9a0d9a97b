"""A load generator that speaks Twilio's webhook: signed form posts, one conversation per number.

Each conversation asks a known sequence of different FAQ questions, so the order of the replies
that reach the Twilio double shows whether the bot kept each conversation's order.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

# Questions with distinct FAQ answers, and a phrase unique to each answer.
QUESTIONS = [
    ("When will I be charged?", "same day each month"),
    ("how do I update my card", "Payment method"),
    ("I was charged twice", "refund it in full"),
    ("how do I change my plan", "switch plans any time"),
    ("I forgot my password", "Forgot password"),
]


@dataclass(frozen=True)
class Request:
    """One signed webhook post; the signature is valid only for ``url``."""

    conversation: int
    url: str
    body: bytes
    signature: str


@dataclass
class Result:
    sent: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def number(conversation: int, offset: int) -> str:
    """A valid US number per conversation; offsets keep separate runs apart (7 digits)."""
    if offset + conversation >= 10**7:
        raise ValueError("conversation numbers must stay within 7 digits")
    return f"+1415{offset + conversation:07d}"


def build(conversations: int, per_conversation: int, url: str, token: str, *,
          offset: int = 0, whatsapp_share: float = 0.5) -> list[list[Request]]:
    """Requests signed for ``url``, grouped per conversation in the order they must be handled."""
    validator = RequestValidator(token)
    sid = itertools.count(offset * 1000)
    plans = []
    for c in range(conversations):
        address = number(c, offset)
        sender = f"whatsapp:{address}" if c < conversations * whatsapp_share else address
        to = "whatsapp:+15005550006" if sender.startswith("whatsapp:") else "+15005550006"
        requests = []
        for j in range(per_conversation):
            form = {"MessageSid": f"SM{next(sid):032x}", "AccountSid": "AC" + "0" * 32,
                    "From": sender, "To": to, "Body": QUESTIONS[j % len(QUESTIONS)][0],
                    "NumMedia": "0"}
            requests.append(Request(c, url, urlencode(form).encode(),
                                    validator.compute_signature(url, form)))
        plans.append(requests)
    return plans


async def post(session: aiohttp.ClientSession, request: Request, result: Result) -> None:
    """Send one request to the URL it was signed for; its answer goes into ``result``."""
    started = time.perf_counter()
    async with session.post(request.url, data=request.body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": request.signature}) as response:
        await response.read()
        status = response.status
    result.latencies.append(time.perf_counter() - started)
    result.statuses[status] = result.statuses.get(status, 0) + 1
    result.sent += 1


async def closed_loop(plans: list[list[Request]], concurrency: int) -> Result:
    """As fast as the servers answer: ``concurrency`` conversations at a time, each sending its
    messages one after another (as Twilio does for one sender), each to its own request's URL
    (conversations may be spread over several processes)."""
    result = Result()
    queue = list(reversed(plans))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            while queue:
                for request in queue.pop():
                    await post(session, request, result)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result


async def open_loop(plans: list[list[Request]], rate: float) -> Result:
    """At a fixed arrival rate, whatever the answers: round-robin over conversations so one
    conversation's messages are far apart."""
    result = Result()
    order = [r for batch in itertools.zip_longest(*plans) for r in batch if r is not None]
    connector = aiohttp.TCPConnector(limit=2000)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        tasks = []
        for index, request in enumerate(order):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, request, result)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - started
    return result


def order_kept(replies: list[list[str]], plans: list[list[Request]], offset: int) -> tuple[int, int]:
    """(conversations checked, conversations whose replies came in the order asked)."""
    by_recipient: dict[str, list[str]] = {}
    for to, body in replies:
        by_recipient.setdefault(to.removeprefix("whatsapp:"), []).append(body)
    good = 0
    for c, requests in enumerate(plans):
        bodies = by_recipient.get(number(c, offset), [])
        expected = [QUESTIONS[j % len(QUESTIONS)][1] for j in range(len(requests))]
        if len(bodies) == len(expected) and all(p in b for p, b in zip(expected, bodies,
                                                                          strict=True)):
            good += 1
    return len(plans), good
