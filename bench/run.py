"""The inbound benchmark: one `bot serve` on SQLite against a bare signature-checking handler.

    python -m bench.run [--conversations 1000] [--messages 3] [--concurrency 64]

Prints messages/s (webhook and end to end, i.e. until each reply reached the local Twilio
double), p50/p99 latency, the ratio bot/reference measured in the same run, non-2xx count,
CPU per message of each bot process (with ``--separate-worker``: web and worker, and their sum),
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

from bench import load
from bench.databases import drop_database, fresh_database
from bench.double_server import double_count, replies, start_double, wait_for_replies
from bench.processes import Process, ServeProcess, WorkerProcess, free_port, live_env
from tests.twilio_double import AUTH_TOKEN

# Webhooks are signed with the account's auth token, which is also what the double checks.
TOKEN = AUTH_TOKEN


def report(name: str, result: load.Result) -> dict[str, float]:
    figures = {"messages": result.sent, "rate": round(result.rate, 1),
               "p50_ms": round(result.percentile(50) * 1000, 2),
               "p99_ms": round(result.percentile(99) * 1000, 2), "non_2xx": result.non_2xx}
    print(f"{name:<34} {figures['rate']:>8.0f} msg/s   p50 {figures['p50_ms']:>6.2f} ms   "
          f"p99 {figures['p99_ms']:>7.2f} ms   non-2xx {figures['non_2xx']}")
    return figures


def report_cpu(used: dict[str, float], messages: int) -> dict[str, int]:
    """Print and return the CPU microseconds per message of each bot process (all its threads),
    and their sum: with a separate worker, the sending is in the worker's figure."""
    per_message = {name: round(seconds / messages * 1e6) for name, seconds in used.items()}
    total = round(sum(used.values()) / messages * 1e6)
    parts = ", ".join(f"{name} {us}" for name, us in per_message.items())
    print(f"bot CPU {total} us/message ({parts}; all threads)")
    return {"bot_cpu_us_per_message": total,
            **{f"{name.replace(' ', '_')}_cpu_us_per_message": us
               for name, us in per_message.items()}}


async def main(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    figures: dict[str, object] = {"machine": f"{platform.machine()}, {platform.processor() or '?'}"
                                  f", python {platform.python_version()}"}
    double = await start_double(workdir)
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
            await load.closed_loop(plans[:50], args.concurrency)
            ref = await load.closed_loop(plans, args.concurrency)
        finally:
            reference.stop()
        figures["reference"] = report("reference (signature + TwiML)", ref)

        bot_port = free_port()
        bot_url = f"http://127.0.0.1:{bot_port}"
        database = (fresh_database(args.postgres) if args.postgres
                    else f"sqlite:///{workdir / 'bot.db'}")
        env = live_env(database, bot_port, double.url)
        bot = ServeProcess(env, workdir / "bot.log", port=bot_port,
                           args=("--no-worker",) if args.separate_worker else ())
        await bot.start()
        measured: dict[str, Process] = {"bot serve": bot}
        worker = WorkerProcess(env, workdir / "worker.log")
        if args.separate_worker:
            worker.spawn()
            measured["bot worker"] = worker
        try:
            warm = load.build(50, 1, bot_url + "/twilio/messages", TOKEN, offset=9_000_000)
            await load.closed_loop(warm, args.concurrency)
            await wait_for_replies(double.url, 50, 30)

            plans = load.build(args.conversations, args.messages, bot_url + "/twilio/messages",
                               TOKEN)
            total = args.conversations * args.messages
            before = await double_count(double.url)
            cpu_before = {name: process.cpu_seconds() for name, process in measured.items()}
            started = time.perf_counter()
            webhook = await load.closed_loop(plans, args.concurrency)
            await wait_for_replies(double.url, before + total, 120)
            end_to_end = total / (time.perf_counter() - started)
            cpu_used = {name: process.cpu_seconds() - cpu_before[name]
                        for name, process in measured.items()}
            figures["bot_webhook"] = report("bot serve, webhook (persisted+flow)", webhook)
            print(f"{'bot serve, end to end (reply sent)':<34} {end_to_end:>8.0f} msg/s")
            figures.update(report_cpu(cpu_used, total))
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
            paced = await load.open_loop(paced_plans, target)
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
