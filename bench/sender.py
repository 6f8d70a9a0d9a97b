"""Outbox sender throughput to a local Twilio double (the double in its own process).

    python -m bench.sender [--messages 5000] [--postgres URL]
    python -m bench.sender --paced [--postgres URL]

Fills the outbox with queued replies for distinct contacts, then times the real sender (twilio
async client) draining them; the rate counts the messages the double received. Target: >= 1,000
messages/s with pacing off. With ``--paced``, pacing is on (WhatsApp at 80/s, an SMS long code at
20/s) and each sender's achieved rate is compared with its configured one. Target: within 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from bench.databases import drop_database, fresh_database
from bench.double_server import double_count, start_double
from bot.channels.twilio_rest import TwilioTransport
from bot.clock import SystemClock
from bot.config import ConfigCache, save_section
from bot.outbound_gate import OutboundGate
from bot.pacing import Pacer, sender_types
from bot.render import Renderer
from bot.sender import OutboxSender
from bot.store.contacts import load_contacts
from bot.store.database import Store
from bot.store.migrate import upgrade
from bot.store.models import OutboxMessage
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN


def fill(store: Store, count: int, channel: str = "sms", offset: int = 0) -> None:
    now = datetime.now(UTC)
    keys = {(channel, f"+1415{offset + n:07d}") for n in range(count)}

    def write(session):  # type: ignore[no-untyped-def]
        loaded = load_contacts(session, keys, now)
        for contact, _ in loaded.values():
            contact.last_inbound_at = now  # they wrote: WhatsApp's window is open
        session.execute(insert(OutboxMessage.__table__), [{
            "business_key": f"bench:{channel}:{n}", "conversation_id": conversation.id,
            "contact_id": contact.id, "channel": channel, "to_address": contact.address,
            "body": "Your next charge is on March 3. Reply HELP for help.", "choices": [],
            # Replies within the window: the gate lets them through at once.
            "kind": "reply", "status": "queued", "due_at": now, "attempts": 0,
            "created_at": now, "updated_at": now}
            for n, (contact, conversation) in enumerate(loaded.values())])

    store.write_sync(write)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    url = fresh_database(args.postgres) if args.postgres else f"sqlite:///{workdir / 'sender.db'}"
    try:
        upgrade(url)
        store = Store(url)
        double = await start_double(workdir)
        try:
            if args.paced:
                await measure_paced(store, double.url)
            else:
                await measure(store, double.url, args)
        finally:
            double.stop()
            store.close()
    finally:
        if args.postgres:
            drop_database(args.postgres, url)


def transport_to(double_url: str, sms_from: str, whatsapp_from: str | None) -> TwilioTransport:
    """The real Twilio transport, sending to the double."""
    return TwilioTransport(ACCOUNT_SID, AUTH_TOKEN, base_url=double_url,
                           status_callback="http://127.0.0.1/twilio/status", sms_from=sms_from,
                           messaging_service_sid=None, whatsapp_from=whatsapp_from)


async def measure(store: Store, double_url: str, args: argparse.Namespace) -> None:
    """Fill the outbox and time the sender draining it; the rate counts what the double
    received, not what the sender claimed."""
    fill(store, args.messages)
    transport = transport_to(double_url, "+15005550006", None)
    # Pacing off (the default in the pacing section): the sender's own ceiling is measured.
    sender = OutboxSender(store, transport, SystemClock(), gate=OutboundGate(Renderer(["en"], "en")),
                          config=ConfigCache(), batch_size=args.batch,
                          concurrency=args.concurrency)
    before = await double_count(double_url)
    try:
        started = time.perf_counter()
        claimed = await sender.drain()
        elapsed = time.perf_counter() - started
    finally:
        await transport.close()
    received = await double_count(double_url) - before
    print(f"sender: {received:,} messages received by the double in {elapsed:.2f} s = "
          f"{received / elapsed:,.0f} msg/s (batch {args.batch}, {args.concurrency} in flight; "
          f"target >= 1,000 msg/s)")
    if received != args.messages:
        print(f"  NOT ALL SENT: {args.messages:,} queued, {claimed:,} claimed, {received:,} received")


PACED = {"whatsapp": (80.0, 400), "sms": (20.0, 100)}
"""Channel: (configured messages per second, messages sent) for the paced run."""
LONG_CODE = "+14155550000"


async def measure_paced(store: Store, double_url: str) -> None:
    """Pacing on: each sender's achieved rate against its configured one, timed from the
    sends the double answered."""
    fill(store, PACED["whatsapp"][1], "whatsapp")
    fill(store, PACED["sms"][1], "sms", offset=500_000)
    store.write_sync(lambda session: save_section(
        session, "pacing", {"enabled": True, "whatsapp": PACED["whatsapp"][0],
                            "long_code": PACED["sms"][0]},
        now=datetime.now(UTC), updated_by="bench"))
    transport = transport_to(double_url, LONG_CODE, "whatsapp:+15005550006")
    sent_at: dict[str, list[float]] = {"whatsapp": [], "sms": []}
    all_sent = asyncio.Event()
    send = transport.send

    async def timed(message):  # type: ignore[no-untyped-def]
        sid = await send(message)
        sent_at[str(message.channel)].append(time.perf_counter())
        if all(len(sent_at[c]) >= n for c, (_, n) in PACED.items()):
            all_sent.set()
        return sid

    transport.send = timed  # type: ignore[method-assign]
    sender = OutboxSender(store, transport, SystemClock(), gate=OutboundGate(Renderer(["en"], "en")),
                          config=ConfigCache(), pacer=Pacer(sender_types(LONG_CODE, None)))
    before = await double_count(double_url)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        await asyncio.wait_for(all_sent.wait(), timeout=120)
    finally:
        stop.set()
        await running
        await transport.close()
    received = await double_count(double_url) - before
    print(f"the double received {received} of {sum(n for _, n in PACED.values())} messages")
    for channel, (rate, count) in PACED.items():
        times = sent_at[channel]
        achieved = (len(times) - 1) / (times[-1] - times[0])
        print(f"paced {channel:<8} {count} messages: {achieved:6.2f} msg/s against {rate:.0f} "
              f"configured ({(achieved / rate - 1) * 100:+.1f} %; target within 5 %)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="measure on PostgreSQL, in a database made next to this one")
    parser.add_argument("--paced", action="store_true",
                        help="measure pacing instead of the sender's ceiling (--messages, "
                             "--batch and --concurrency do not apply)")
    asyncio.run(main(parser.parse_args()))
