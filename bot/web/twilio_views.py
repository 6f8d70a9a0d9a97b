"""Twilio's webhooks: inbound messages and delivery status callbacks."""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import MultiDict

from bot.channels.twilio_webhook import (
    EMPTY_TWIML,
    SIGNATURE_HEADER,
    WebhookRejected,
    decode_form,
    parse_inbound,
    parse_status,
    signed_url,
    verify_signature,
)
from bot.outbox import apply_status
from bot.pipeline import ProcessingFailed
from bot.services import Services
from bot.store.models import DeliveryReport
from bot.web.keys import SERVICES

log = logging.getLogger(__name__)


def twiml() -> web.Response:
    """An empty TwiML answer: we reply through the REST API, not in the webhook response."""
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def rejected(error: WebhookRejected) -> web.Response:
    return web.Response(status=error.status, text=error.reason + "\n")


async def _signed_form(request: web.Request, services: Services) -> MultiDict[str]:
    """Read and verify a Twilio webhook body; raises WebhookRejected before anything is written."""
    if request.content_length is not None and request.content_length > services.settings.max_body_bytes:
        raise WebhookRejected(413, "the body is too large")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise WebhookRejected(403, f"missing {SIGNATURE_HEADER}")
    body = await request.read()
    form = decode_form(body)
    url = signed_url(services.settings.public_base_url, request.raw_path)
    verify_signature(services.settings.webhook_token, url, form, signature)
    return form


async def accept_inbound(services: Services, form: MultiDict[str]) -> str:
    """Normalize a verified form and hand it to the pipeline; returns the outcome."""
    inbound = parse_inbound(form)
    outcome = await services.pipeline.submit(inbound)
    services.metrics.inbound.labels(str(inbound.channel), outcome.split(":")[0]).inc()
    return outcome


async def inbound_message(request: web.Request) -> web.Response:
    """POST /twilio/messages — a customer's SMS or WhatsApp message."""
    services = request.app[SERVICES]
    started = services.clock.monotonic()
    try:
        form = await _signed_form(request, services)
        await accept_inbound(services, form)
    except WebhookRejected as error:
        return rejected(error)
    except ProcessingFailed:
        return web.Response(status=503, text="could not store the message; retry\n")
    finally:
        services.metrics.webhook_latency.observe(services.clock.monotonic() - started)
    return twiml()


async def status_callback(request: web.Request) -> web.Response:
    """POST /twilio/status — delivery status for a message we sent."""
    services = request.app[SERVICES]
    try:
        report = parse_status(await _signed_form(request, services))
    except WebhookRejected as error:
        return rejected(error)
    now = services.clock.now()

    def record(session):  # type: ignore[no-untyped-def]
        session.add(DeliveryReport(provider_id=report.provider_id, status=report.status,
                                   error_code=report.error_code, received_at=now))
        apply_status(session, report.provider_id, report.status, report.error_code, now)

    await services.store.write(record)
    return web.Response(status=204)
