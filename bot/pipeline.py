"""Group commit for inbound messages.

A webhook hands its message to ``InboundPipeline.submit`` and waits until the message is
committed — acknowledged means persisted. Messages of one conversation always go to the same
lane and each lane handles its queue in arrival order, so they never interleave. While a lane's
transaction runs, new arrivals gather and go together in the next one: one thread hop and one
commit for many messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import InterfaceError, OperationalError

from bot.clock import Clock
from bot.messages import Inbound
from bot.processor import Batch, TurnProcessor
from bot.store.database import Store

log = logging.getLogger(__name__)

FAILED = "failed"
DATABASE_TROUBLE = (OperationalError, InterfaceError)
"""The database failing (restarting, unreachable, locked): no fault of the messages, which are
left unacknowledged for Twilio to retry rather than recorded as failed."""


@dataclass
class _Pending:
    inbound: Inbound
    done: asyncio.Future[str]


@dataclass
class _Lane:
    queue: list[_Pending] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class InboundPipeline:
    """Queues inbound messages per lane and commits them in batches."""

    def __init__(self, store: Store, processor: TurnProcessor, clock: Clock, *,
                 max_batch: int = 200,
                 on_committed: Callable[[Batch], None] | None = None) -> None:
        self.store = store
        self.processor = processor
        self.clock = clock
        self.max_batch = max_batch
        self.on_committed = on_committed
        self._lanes = [_Lane() for _ in range(store.lane_count)]
        self._closing = False

    def start(self) -> None:
        """Start one worker task per lane."""
        for index, lane in enumerate(self._lanes):
            lane.task = asyncio.create_task(self._run_lane(index, lane), name=f"inbound-lane-{index}")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._closing = True
        for lane in self._lanes:
            lane.wake.set()
        await asyncio.gather(*(lane.task for lane in self._lanes if lane.task))

    async def submit(self, inbound: Inbound) -> str:
        """Queue a message and wait until it is committed; returns its outcome."""
        if self._closing:
            raise RuntimeError("the service is shutting down")
        lane = self._lanes[self.store.lane_for(inbound.conversation_key)]
        pending = _Pending(inbound, asyncio.get_running_loop().create_future())
        lane.queue.append(pending)
        lane.wake.set()
        return await pending.done

    async def _run_lane(self, index: int, lane: _Lane) -> None:
        while True:
            if not lane.queue:
                if self._closing:
                    return
                lane.wake.clear()
                await lane.wake.wait()
                continue
            batch, lane.queue = lane.queue[: self.max_batch], lane.queue[self.max_batch:]
            await self._commit(index, batch)

    async def _commit(self, index: int, batch: list[_Pending]) -> None:
        items = [pending.inbound for pending in batch]
        try:
            result = await self.store.write(
                lambda session: self.processor.process(session, items, self.clock.now()), lane=index)
        except DATABASE_TROUBLE:
            # Recording a failure would reset the conversation and apologise for a turn that a
            # retry will handle as usual.
            log.warning("the database failed a batch of %d; not acknowledged", len(batch),
                        exc_info=True)
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(ProcessingFailed(pending.inbound.provider_id))
            return
        except Exception:
            if len(batch) > 1:
                # Commit them one by one so a single bad message cannot sink its neighbours.
                log.warning("batch of %d failed; retrying one message per transaction", len(batch))
                for pending in batch:
                    await self._commit(index, [pending])
                return
            result = await self._record_failure(index, batch[0])
            if result is None:
                return
        if self.on_committed is not None:
            self.on_committed(result)
        for pending, outcome in zip(batch, result.outcomes, strict=True):
            if not pending.done.done():
                pending.done.set_result(outcome)

    async def _record_failure(self, index: int, pending: _Pending) -> Batch | None:
        """Keep a message its flow could not handle, and apologise to the customer."""
        log.exception("handling a message failed", extra={"provider_id": pending.inbound.provider_id})
        try:
            return await self.store.write(
                lambda session: self.processor.record_failure(session, pending.inbound,
                                                              self.clock.now()),
                lane=index)
        except Exception:
            log.exception("recording a failed message failed too")
            if not pending.done.done():
                pending.done.set_exception(ProcessingFailed(pending.inbound.provider_id))
            return None


class ProcessingFailed(Exception):
    """A message could not be committed: it is not acknowledged, so the sender knows to retry."""
