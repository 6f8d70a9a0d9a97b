"""Builds the service's parts from settings, once per process."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bot.account_context import account_sections
from bot.agent_context import ContextProvider
from bot.agent_desk import AgentDesk
from bot.billing.port import BillingPort, LocalLedger
from bot.billing.relay import BillingRelay
from bot.billing.webhook import WebhookBilling
from bot.channels.console import ConsoleTransport
from bot.channels.transport import Transport
from bot.channels.twilio_rest import TwilioTransport
from bot.clock import Clock, SystemClock
from bot.config import ConfigCache
from bot.consent import consent_page_link
from bot.content_versions import ContentOverrides
from bot.dunning import DEFERRED_NOTICE_JOB, DISCOUNT_JOB, LAPSE_JOB, REMIND_JOB, DunningService
from bot.engine import ConversationEngine
from bot.event_intake import EventIntake
from bot.faq import FaqLibrary
from bot.handoff_feed import HandoffFeed
from bot.i18n import shipped_locales
from bot.metrics import Metrics
from bot.outbound_gate import OutboundGate
from bot.outbox import SendOutcome
from bot.pacing import Pacer, sender_types
from bot.pipeline import InboundPipeline
from bot.proactive import ProactiveEvents
from bot.processor import Batch, TurnProcessor
from bot.render import Renderer
from bot.scheduler import JobHandler, Scheduler
from bot.sender import OutboxSender
from bot.settings import BILLING_LEASE_SECONDS, Settings
from bot.store.database import Store
from bot.subscription_jobs import SubscriptionJobs
from bot.whatsapp_templates import WhatsAppTemplates  # noqa: F401  (registers the section)
from flows.cancel import CancelFlow
from flows.dunning import DunningFlow
from flows.faq import FaqFlow
from flows.handoff import RETURN_JOB, HandoffFlow
from flows.pause import PauseFlow
from flows.survey import RECORD_JOB, SurveyFlow

log = logging.getLogger(__name__)

FLOWS = (FaqFlow, HandoffFlow, SurveyFlow, DunningFlow, PauseFlow, CancelFlow)


def default_transport(settings: Settings) -> Transport:
    """Twilio with credentials; the console in sandbox mode."""
    if settings.sandbox:
        return ConsoleTransport()
    return TwilioTransport(
        settings.twilio_account_sid or "", settings.twilio_auth_token or "",
        base_url=settings.twilio_api_base_url, status_callback=settings.status_callback_url,
        sms_from=settings.twilio_sms_from,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        whatsapp_from=settings.twilio_whatsapp_from, timeout=settings.twilio_timeout_seconds)


def default_billing(settings: Settings, clock: Clock) -> BillingPort:
    """The operator's webhook when configured; the local ledger otherwise."""
    if settings.billing_webhook_url and settings.billing_webhook_secret:
        return WebhookBilling(settings.billing_webhook_url, settings.billing_webhook_secret, clock,
                              timeout=settings.billing_webhook_timeout_seconds)
    return LocalLedger()


@dataclass
class Services:
    """Everything a process needs, wired together."""

    settings: Settings
    clock: Clock
    store: Store
    renderer: Renderer
    faq: FaqLibrary
    engine: ConversationEngine
    processor: TurnProcessor
    pipeline: InboundPipeline
    transport: Transport
    sender: OutboxSender
    scheduler: Scheduler
    metrics: Metrics
    config: ConfigCache
    overrides: ContentOverrides
    """Operators' saved templates and FAQs, refreshed once per turn batch."""
    desk: AgentDesk
    feed: HandoffFeed
    billing: BillingPort
    relay: BillingRelay
    dunning: DunningService
    events: EventIntake
    job_handlers: dict[str, JobHandler] = field(default_factory=dict)
    context_providers: list[ContextProvider] = field(default_factory=list)
    """Account facts for the agent console (subscription, payments, offers); see agent_context."""
    _stop: asyncio.Event | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, inbound: bool = True, worker: bool = True) -> None:
        """Start the inbound lanes and, with ``worker``, the sender and scheduler loops."""
        self._stop = asyncio.Event()
        if inbound:
            self.pipeline.start()
            self._tasks.append(asyncio.create_task(self.feed.run(self._stop), name="console-feed"))
        if worker:
            self._tasks += [
                asyncio.create_task(self.sender.run(self._stop), name="outbox-sender"),
                asyncio.create_task(self.scheduler.run(self._stop), name="scheduler"),
                asyncio.create_task(self.relay.run(self._stop), name="billing-relay"),
            ]

    async def stop(self) -> None:
        """Finish queued inbound work, stop the loops, release connections and threads."""
        await self.pipeline.stop()
        if self._stop is not None:
            self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        await self.billing.close()
        self.store.close()


def build_services(settings: Settings, *, clock: Clock | None = None,
                   transport: Transport | None = None) -> Services:
    """Construct every part from ``settings`` (a clock and transport may be injected)."""
    clock = clock or SystemClock()
    locales = shipped_locales() or (settings.default_locale,)
    store = Store(settings.database_url)
    overrides = ContentOverrides()
    renderer = Renderer(locales, settings.default_locale, brand=settings.brand_name,
                        edits=overrides)
    faq = FaqLibrary(locales, settings.default_locale, edits=overrides)
    engine = ConversationEngine(
        FLOWS, sms_own_keyword_replies=settings.sms_own_keyword_replies,
        consent_link=lambda contact, now: consent_page_link(
            settings.public_base_url, settings.secret_key, contact.id, now))
    config = ConfigCache()
    processor = TurnProcessor(engine, renderer, faq, settings.default_locale, config, overrides)
    metrics = Metrics()
    transport = transport or default_transport(settings)
    handlers: dict[str, JobHandler] = {}

    def count_sent(outcomes: list[SendOutcome]) -> None:
        for outcome in outcomes:
            metrics.outbound.labels(str(outcome.result)).inc()

    pacer = Pacer(sender_types(settings.twilio_sms_from, settings.twilio_messaging_service_sid))
    sender = OutboxSender(store, transport, clock, gate=OutboundGate(renderer), config=config,
                          pacer=pacer, on_sent=count_sent,
                          lease=timedelta(seconds=settings.send_lease_seconds))

    feed = HandoffFeed(store)

    def committed(batch: Batch) -> None:
        if batch.queued:
            sender.notify()
        feed.poke()

    pipeline = InboundPipeline(store, processor, clock, on_committed=committed)
    desk = AgentDesk(processor)
    handlers[RETURN_JOB] = desk.return_to_bot
    handlers[RECORD_JOB] = desk.record_rating
    scheduler = Scheduler(store, clock, handlers)
    billing = default_billing(settings, clock)
    relay = BillingRelay(store, billing, clock, lease=timedelta(seconds=BILLING_LEASE_SECONDS))
    proactive = ProactiveEvents(processor, engine)
    dunning = DunningService(proactive, config, settings.secret_key, settings.public_base_url)
    subscription_jobs = SubscriptionJobs(proactive)
    handlers.update({
        DEFERRED_NOTICE_JOB: dunning.deferred_notice,
        REMIND_JOB: dunning.remind,
        DISCOUNT_JOB: dunning.offer_discount,
        LAPSE_JOB: dunning.lapse,
        "pause.resume_day": subscription_jobs.resume_day,
        "cancel.ended": subscription_jobs.cancellation_effective,
    })
    return Services(settings=settings, clock=clock, store=store, renderer=renderer, faq=faq,
                    engine=engine, processor=processor, pipeline=pipeline, transport=transport,
                    sender=sender, scheduler=scheduler, metrics=metrics, config=config,
                    overrides=overrides, desk=desk, feed=feed, billing=billing, relay=relay,
                    dunning=dunning, events=EventIntake(dunning), job_handlers=handlers,
                    context_providers=[account_sections])
