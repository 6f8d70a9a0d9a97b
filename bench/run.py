"""The inbound benchmark: one `bot serve` on SQLite against a bare signature-checking handler.

    python -m bench.run [--conversations 1000] [--messages 3] [--concurrency 64]

Prints messages/s (webhook and end to end, i.e. until each reply reached the local Twilio
double), p50/p99 latency, the ratio bot/reference measured in the same run, non-2xx count,
per-conversation order, and p99 at 70 % of the measured maximum rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import load
from bench.databases import drop_database, fresh_database
from bench.processes import Process, free_port
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN

# Webhooks are signed with the account's auth token, which is also what the double checks.
TOKEN = AUTH_TOKEN
ACCOUNT = ACCOUNT_SID


async def wait_for_replies(double_url: str, expected: int, timeout: float) -> float:
    """Seconds until the double has ``expected`` messages (or the timeout)."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            async with session.get(double_url + "/stats") as response:
                if (await response.json())["messages"] >= expected:
                    return time.perf_counter() - started
            await asyncio.sleep(0.02)
    raise TimeoutError(f"replies did not all arrive within {timeout}s")


async def double_count(double_url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(double_url + "/stats") as response:
        return (await response.json())["messages"]


async def replies(double_url: str) -> list[list[str]]:
    async with aiohttp.ClientSession() as session, session.get(double_url + "/replies") as r:
        return await r.json()


def bot_env(database_url: str, port: int, double_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE_URL": double_url,
            "TWILIO_SMS_FROM": "+15005550006", "TWILIO_WHATSAPP_FROM": "whatsapp:+15005550006",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "BOT_SECRET_KEY": "bench",
            "BOT_LOG_LEVEL": "WARNING"}


def report(name: str, result: load.Result) -> dict[str, float]:
    figures = {"messages": result.sent, "rate": round(result.rate, 1),
               "p50_ms": round(result.percentile(50) * 1000, 2),
               "p99_ms": round(result.percentile(99) * 1000, 2), "non_2xx": result.non_2xx}
    print(f"{name:<34} {figures['rate']:>8.0f} msg/s   p50 {figures['p50_ms']:>6.2f} ms   "
          f"p99 {figures['p99_ms']:>7.2f} ms   non-2xx {figures['non_2xx']}")
    return figures


async def main(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    figures: dict[str, object] = {"machine": f"{platform.machine()}, {platform.processor() or '?'}"
                                  f", python {platform.python_version()}"}
    port = free_port()
    double = await Process(["-m", "bench.double_server", "--port", str(port)], port,
                           workdir / "double.log", ready_path="/stats").start()
    try:
        # Reference: the same requests against a handler that only checks the signature.
        ref_port = free_port()
        ref_url = f"http://127.0.0.1:{ref_port}"
        reference = await Process(["-m", "bench.reference_server", "--port", str(ref_port),
                                   "--token", TOKEN, "--public-base-url", ref_url], ref_port,
                                  workdir / "reference.log").start()
        try:
            plans = load.build(args.conversations, args.messages, ref_url + "/twilio/messages",
                               TOKEN)
            await load.closed_loop(ref_url + "/twilio/messages", plans[:50], args.concurrency)
            ref = await load.closed_loop(ref_url + "/twilio/messages", plans, args.concurrency)
        finally:
            reference.stop()
        figures["reference"] = report("reference (signature + TwiML)", ref)

        bot_port = free_port()
        bot_url = f"http://127.0.0.1:{bot_port}"
        database = (fresh_database(args.postgres) if args.postgres
                    else f"sqlite:///{workdir / 'bot.db'}")
        env = bot_env(database, bot_port, double.url)
        serve = ["-m", "bot", "serve", "--port", str(bot_port)]
        if args.separate_worker:
            serve.append("--no-worker")
        bot = await Process(serve, bot_port, workdir / "bot.log", env=env,
                            ready_path="/healthz").start()
        worker = Process(["-m", "bot", "worker"], 0, workdir / "worker.log", env=env)
        if args.separate_worker:
            worker.spawn()
        try:
            warm = load.build(50, 1, bot_url + "/twilio/messages", TOKEN, offset=9_000_000)
            await load.closed_loop(bot_url + "/twilio/messages", warm, args.concurrency)
            await wait_for_replies(double.url, 50, 30)

            plans = load.build(args.conversations, args.messages, bot_url + "/twilio/messages",
                               TOKEN)
            total = args.conversations * args.messages
            before = await double_count(double.url)
            cpu_before = bot.cpu_seconds()
            started = time.perf_counter()
            webhook = await load.closed_loop(bot_url + "/twilio/messages", plans,
                                             args.concurrency)
            await wait_for_replies(double.url, before + total, 120)
            end_to_end = total / (time.perf_counter() - started)
            cpu_per_message = (bot.cpu_seconds() - cpu_before) / total
            figures["bot_webhook"] = report("bot serve, webhook (persisted+flow)", webhook)
            print(f"{'bot serve, end to end (reply sent)':<34} {end_to_end:>8.0f} msg/s   "
                  f"bot CPU {cpu_per_message * 1e6:.0f} us/message (all threads)")
            figures["bot_cpu_us_per_message"] = round(cpu_per_message * 1e6)
            figures["bot_end_to_end_rate"] = round(end_to_end, 1)
            checked, kept = load.order_kept(await replies(double.url), plans, 0)
            print(f"per-conversation order kept: {kept}/{checked}")
            figures["order_kept"] = [kept, checked]
            ratio = end_to_end / ref.rate if ref.rate else 0.0
            print(f"ratio bot end-to-end / reference: {ratio:.2f}")
            figures["ratio"] = round(ratio, 3)

            target = 0.7 * end_to_end
            paced_plans = load.build(args.conversations, args.messages,
                                     bot_url + "/twilio/messages", TOKEN, offset=5_000_000)
            before = await double_count(double.url)
            paced = await load.open_loop(bot_url + "/twilio/messages", paced_plans, target)
            await wait_for_replies(double.url, before + total, 120)
            figures["bot_at_70_percent"] = report(f"bot at 70% ({target:.0f} msg/s offered)",
                                                  paced)
        finally:
            bot.stop()
            worker.stop()
            if args.postgres:
                drop_database(args.postgres, database)
    finally:
        double.stop()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3, help="messages per conversation")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="run the bot on PostgreSQL, in a database made next to this one "
                             "(default: a fresh SQLite file)")
    parser.add_argument("--separate-worker", action="store_true",
                        help="bot serve --no-worker plus a bot worker process sending")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
