"""The outbox sender loop.

Claims due rows, sends them through the transport — one at a time per recipient so a
customer's messages arrive in order, many recipients at once — and records the outcomes.
No send starts unless the claim's lease covers it. Transient failures back off (capped, with
Twilio's Retry-After as a floor); ambiguous ones (timeout, 5xx, a crash mid-send) are looked
up at the provider, and gated again before any resend; permanent ones never retry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.transport import FailureKind, SendFailure, Transport
from bot.clock import Clock
from bot.config import ConfigCache
from bot.logs import mask_address
from bot.outbound_gate import WINDOW_CLOSED_CODE, OutboundGate
from bot.outbox import (
    WINDOW_CLOSED_REASON,
    Claim,
    Result,
    SendOutcome,
    claim_due,
    record_outcomes,
)
from bot.pacing import Pacer, PacingConfig
from bot.store.database import Store
from bot.store.models import OutboxMessage

log = logging.getLogger(__name__)

OPTED_OUT_CODE = 21610


def backoff_delay(attempt: int, rng: Callable[[], float], *, base: float = 2.0,
                  cap: float = 300.0, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, capped, "equal jitter"
    (half fixed, half random), and never sooner than the provider's Retry-After."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    delay = ceiling / 2 + rng() * ceiling / 2
    return max(delay, retry_after or 0.0)


class OutboxSender:
    """Sends what the outbox holds."""

    def __init__(self, store: Store, transport: Transport, clock: Clock, *, gate: OutboundGate,
                 config: ConfigCache, pacer: Pacer | None = None, batch_size: int = 200,
                 concurrency: int = 64,
                 lease: timedelta = timedelta(seconds=60), poll_interval: float = 0.5,
                 max_attempts: int = 8, rng: Callable[[], float] = random.random,
                 on_sent: Callable[[list[SendOutcome]], None] | None = None) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.gate = gate
        self.config = config
        self.pacer = pacer or Pacer({})
        self.batch_size = batch_size
        self.concurrency = asyncio.Semaphore(concurrency)
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.rng = rng
        self.on_sent = on_sent
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something became due: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set."""
        while not stop.is_set():
            try:
                sent = await self.send_due()
            except Exception:
                log.exception("outbox pass failed; retrying")
                sent = 0
            if sent == 0:
                self._wake.clear()
                waiters = {asyncio.ensure_future(self._wake.wait()),
                           asyncio.ensure_future(stop.wait())}
                paced = self.pacer.seconds_until_next(self.clock.monotonic())
                await asyncio.wait(waiters, timeout=min(self.poll_interval,
                                                        math.inf if paced is None else paced),
                                   return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()

    async def send_due(self) -> int:
        """Claim one batch of due rows and send it; returns how many rows were claimed."""
        claims = await self.store.write(self._claim)
        if not claims:
            return 0
        by_recipient: dict[str, list[Claim]] = {}
        for claim in claims:
            by_recipient.setdefault(f"{claim.message.channel}:{claim.message.to}", []).append(claim)
        groups = await asyncio.gather(*(self._send_in_order(group)
                                        for group in by_recipient.values()))
        outcomes = [outcome for group in groups for outcome in group]
        done_at = self.clock.now()
        await self.store.write(lambda session: record_outcomes(session, outcomes, done_at))
        if self.on_sent is not None:
            self.on_sent(outcomes)
        return len(claims)

    def _claim(self, session: Session) -> list[Claim]:
        """Claim what is due and, with pacing on, what each sender may send now."""
        config = self.config.current(session)
        moment = self.clock.monotonic()
        allowance = self.pacer.allowance(config.get(PacingConfig), moment)
        claims = claim_due(session, self.clock.now(), self.batch_size, self.lease, gate=self.gate,
                           config=config, per_channel=allowance)
        if allowance is not None:
            self.pacer.spend(Counter(str(claim.message.channel) for claim in claims), moment)
        return claims

    async def drain(self) -> int:
        """Send everything due now (CLI chat, tests); returns how many rows were handled."""
        total = 0
        while (count := await self.send_due()) > 0:
            total += count
        return total

    async def _send_in_order(self, claims: list[Claim]) -> list[SendOutcome]:
        outcomes = []
        taken: set[str] = set()  # provider ids this recipient's rows got in this pass
        async with self.concurrency:
            for index, claim in enumerate(claims):
                outcome = await self._send_one(claim, taken)
                outcomes.append(outcome)
                if outcome.result is Result.RETRY and not claim.lookup_only:
                    # Keep the recipient's order: later messages wait for this one (a dropped
                    # message being looked up is not in that order).
                    outcomes.extend(self._postpone(c, outcome.retry_at) for c in claims[index + 1:])
                    break
        return outcomes

    @staticmethod
    def _postpone(claim: Claim, until: datetime | None) -> SendOutcome:
        return SendOutcome(claim.message.outbox_id, Result.RETRY, retry_at=until,
                           reason="waiting for an earlier message to the same recipient",
                           ambiguous_since=claim.ambiguous_since, lease_until=claim.lease_until,
                           untried=_counted_an_attempt(claim))

    async def _send_one(self, claim: Claim, taken: set[str]) -> SendOutcome:
        message = claim.message
        started = self.clock.now()
        if started + timedelta(seconds=self.transport.timeout) > claim.lease_until:
            # Another sender may claim the row before the answer comes: leave it for later.
            return replace(self._retry_now(claim, "not started: the lease would run out mid-send",
                                           claim.ambiguous_since),
                           untried=_counted_an_attempt(claim))
        try:
            # One deadline for the whole send (a WhatsApp menu is two requests), which is what
            # the lease check above allowed for.
            async with asyncio.timeout(self.transport.timeout or None):
                if claim.lookup_only:
                    return await self._look_up(claim, taken)
                if claim.ambiguous_since is not None:
                    return await self._reconcile(claim, taken)
                provider_id = await self.transport.send(message)
        except SendFailure as failure:
            return self._failed(claim, failure, started)
        except TimeoutError:
            return self._failed(claim, SendFailure(FailureKind.AMBIGUOUS,
                                                   "no answer within the send timeout"), started)
        except Exception as error:  # an unexpected client error: treat as "may have been sent"
            log.exception("unexpected send error", extra={"outbox_id": message.outbox_id})
            return self._failed(claim, SendFailure(FailureKind.AMBIGUOUS, repr(error)), started)
        taken.add(provider_id)
        return SendOutcome(message.outbox_id, Result.SENT, provider_id=provider_id,
                           lease_until=claim.lease_until)

    async def _reconcile(self, claim: Claim, taken: set[str]) -> SendOutcome:
        """Record an earlier attempt the provider has; else send the row back to the gate, which
        rules on it afresh (the window may have closed, the customer opted out) before a send."""
        found = await self._already_sent(claim, taken)
        if found is None:
            return self._retry_now(claim, "not found at Twilio: gated and sent again", None)
        taken.add(found)
        log.info("reconciled an earlier attempt", extra={"outbox_id": claim.message.outbox_id})
        return SendOutcome(claim.message.outbox_id, Result.SENT, provider_id=found,
                           ambiguous_since=claim.ambiguous_since, lease_until=claim.lease_until)

    async def _look_up(self, claim: Claim, taken: set[str]) -> SendOutcome:
        """A row dropped while an attempt was under way: record it sent if the provider has it,
        else leave it dropped — it is never sent from here."""
        found = await self._already_sent(claim, taken)
        if found is None:
            return SendOutcome(claim.message.outbox_id, Result.NOT_SENT,
                               lease_until=claim.lease_until)
        taken.add(found)
        log.info("a dropped message had gone out", extra={"outbox_id": claim.message.outbox_id})
        return SendOutcome(claim.message.outbox_id, Result.SENT, provider_id=found,
                           lease_until=claim.lease_until)

    async def _already_sent(self, claim: Claim, taken: set[str]) -> str | None:
        """The oldest matching message at the provider that no row has: neither one recorded
        nor one an earlier row of this recipient took in this pass."""
        assert claim.ambiguous_since is not None
        candidates = await self.transport.find_sent(claim.message, claim.ambiguous_since)
        if not candidates:
            return None
        known = set(await self.store.read(lambda session: session.scalars(
            select(OutboxMessage.provider_id).where(OutboxMessage.provider_id.in_(candidates))
        ).all()))
        return next((sid for sid in reversed(candidates) if sid not in known | taken), None)

    def _retry_now(self, claim: Claim, reason: str,
                   ambiguous_since: datetime | None) -> SendOutcome:
        return SendOutcome(claim.message.outbox_id, Result.RETRY, retry_at=self.clock.now(),
                           reason=reason, ambiguous_since=ambiguous_since,
                           lease_until=claim.lease_until)

    def _failed(self, claim: Claim, failure: SendFailure, started: datetime) -> SendOutcome:
        message = claim.message
        log.warning("send failed", extra={"outbox_id": message.outbox_id, "kind": failure.kind,
                                          "code": failure.code, "to": mask_address(message.to),
                                          "attempt": claim.attempts, "reason": failure.reason})
        if failure.kind is FailureKind.PERMANENT:
            if failure.code == WINDOW_CLOSED_CODE:
                # Nothing went out; the gate sees the code on the row and takes the fallback
                # (approved template, another channel, or hold) on the next claim.
                return SendOutcome(message.outbox_id, Result.RETRY, error_code=failure.code,
                                   reason=WINDOW_CLOSED_REASON, retry_at=self.clock.now(),
                                   lease_until=claim.lease_until)
            return SendOutcome(
                message.outbox_id, Result.FAILED, error_code=failure.code, reason=failure.reason,
                opted_out_contact=claim.contact_id if failure.code == OPTED_OUT_CODE else None,
                lease_until=claim.lease_until)
        ambiguous_since = (claim.ambiguous_since or started
                           if failure.kind is FailureKind.AMBIGUOUS else claim.ambiguous_since)
        if claim.attempts >= self.max_attempts:
            return SendOutcome(message.outbox_id, Result.FAILED, error_code=failure.code,
                               reason=f"gave up after {claim.attempts} attempts: {failure.reason}",
                               lease_until=claim.lease_until)
        delay = backoff_delay(claim.attempts, self.rng, retry_after=failure.retry_after)
        return SendOutcome(message.outbox_id, Result.RETRY, error_code=failure.code,
                           reason=failure.reason, ambiguous_since=ambiguous_since,
                           retry_at=self.clock.now() + timedelta(seconds=delay),
                           lease_until=claim.lease_until)


def _counted_an_attempt(claim: Claim) -> bool:
    """Whether claiming the row counted an attempt (a row that may be with the provider is only
    looked up there, which is none)."""
    return claim.ambiguous_since is None
