"""Outbox sender throughput to a local Twilio double (the double in its own process).

    python -m bench.sender [--messages 5000] [--postgres URL]

Fills the outbox with queued replies for distinct contacts, then times the real sender (twilio
async client) draining them. Target: >= 1,000 messages/s with pacing off.
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
from bench.processes import Process, free_port
from bot.channels.twilio_rest import TwilioTransport
from bot.clock import SystemClock
from bot.config import ConfigCache
from bot.outbound_gate import OutboundGate
from bot.render import Renderer
from bot.sender import OutboxSender
from bot.store.contacts import load_contacts
from bot.store.database import Store
from bot.store.migrate import upgrade
from bot.store.models import OutboxMessage
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN


def fill(store: Store, count: int) -> None:
    now = datetime.now(UTC)
    keys = {("sms", f"+1415{n:07d}") for n in range(count)}

    def write(session):  # type: ignore[no-untyped-def]
        loaded = load_contacts(session, keys, now)
        session.execute(insert(OutboxMessage.__table__), [{
            "business_key": f"bench:{n}", "conversation_id": conversation.id,
            "contact_id": contact.id, "channel": "sms", "to_address": contact.address,
            "body": "Your next charge is on March 3. Reply HELP for help.", "choices": [],
            "kind": "reply", "status": "queued", "due_at": now, "attempts": 0,
            "created_at": now, "updated_at": now}
            for n, (contact, conversation) in enumerate(loaded.values())])

    store.write_sync(write)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    url = fresh_database(args.postgres) if args.postgres else f"sqlite:///{workdir / 'sender.db'}"
    try:
        await measure(url, workdir, args)
    finally:
        if args.postgres:
            drop_database(args.postgres, url)


async def measure(url: str, workdir: Path, args: argparse.Namespace) -> None:
    """Fill the outbox at ``url`` and time the sender draining it."""
    upgrade(url)
    store = Store(url)
    fill(store, args.messages)
    port = free_port()
    double = await Process(["-m", "bench.double_server", "--port", str(port)], port,
                           workdir / "double.log", ready_path="/stats").start()
    transport = TwilioTransport(ACCOUNT_SID, AUTH_TOKEN, base_url=double.url,
                                status_callback="http://127.0.0.1/twilio/status",
                                sms_from="+15005550006", messaging_service_sid=None,
                                whatsapp_from=None)
    # Pacing off (the default in the pacing section): the sender's own ceiling is measured.
    sender = OutboxSender(store, transport, SystemClock(), gate=OutboundGate(Renderer(["en"], "en")),
                          config=ConfigCache(), batch_size=args.batch,
                          concurrency=args.concurrency)
    try:
        started = time.perf_counter()
        sent = await sender.drain()
        elapsed = time.perf_counter() - started
    finally:
        await transport.close()
        double.stop()
        store.close()
    print(f"sender: {sent:,} messages in {elapsed:.2f} s = {sent / elapsed:,.0f} msg/s "
          f"(batch {args.batch}, {args.concurrency} in flight; target >= 1,000 msg/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="measure on PostgreSQL, in a database made next to this one")
    asyncio.run(main(parser.parse_args()))
