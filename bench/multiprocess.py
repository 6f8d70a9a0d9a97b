"""PostgreSQL scale-out: one `bot serve` against two web processes and one worker.

    python -m bench.multiprocess --database-url postgresql://postgres@127.0.0.1:5432/test

Creates a fresh database for each configuration, drives the same signed load (conversations
spread over the web processes, each conversation's messages in turn), and reports messages/s end
to end (until every reply reached the Twilio double), per-conversation order, and a burst check:
5 messages from one customer 20 ms apart, alternating between the two web processes, must be
answered in order.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import load
from bench.databases import drop_database, fresh_database
from bench.double_server import double_count, replies, start_double, wait_for_replies
from bench.processes import Process, ServeProcess, WorkerProcess, free_port, live_env
from bench.run import TOKEN


def spread(urls: list[str], conversations: int, messages: int,
           offset: int) -> list[list[load.Request]]:
    """Conversation c's messages, signed for (and so posted to) web process c % len(urls):
    each process checks signatures against its own PUBLIC_BASE_URL."""
    signed = [load.build(conversations, messages, url + "/twilio/messages", TOKEN, offset=offset)
              for url in urls]
    return [signed[c % len(urls)][c] for c in range(conversations)]


async def burst(urls: list[str], double_url: str, offset: int) -> bool:
    """5 messages from one customer, 20 ms apart, alternating web processes: answered in order?"""
    signed = [load.build(1, 5, url + "/twilio/messages", TOKEN, offset=offset,
                         whatsapp_share=0)[0] for url in urls]
    messages = [signed[j % len(urls)][j] for j in range(5)]
    before = await double_count(double_url)
    result = load.Result()
    async with aiohttp.ClientSession() as session:
        tasks = []
        for request in messages:
            tasks.append(asyncio.create_task(load.post(session, request, result)))
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)
    await wait_for_replies(double_url, before + 5, 60)
    return load.order_kept(await replies(double_url), [messages], offset) == (1, 1)


async def measure(admin_url: str, double: Process, workdir: Path, web: int,
                  args: argparse.Namespace) -> tuple[float, tuple[int, int], bool]:
    url = fresh_database(admin_url)
    processes: list[Process] = []
    try:
        ports = [free_port() for _ in range(web)]
        for n, port in enumerate(ports):
            server = ServeProcess(live_env(url, port, double.url), workdir / f"web{web}-{n}.log",
                                  port=port, args=() if web == 1 else ("--no-worker",))
            processes.append(await server.start())
        if web > 1:
            worker = WorkerProcess(live_env(url, ports[0], double.url), workdir / f"worker{web}.log")
            worker.spawn()
            processes.append(worker)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        offset = web * 2_000_000
        plans = spread(urls, args.conversations, args.messages, offset)
        total = args.conversations * args.messages
        before = await double_count(double.url)
        started = time.perf_counter()
        sent = await load.closed_loop(plans, args.concurrency)
        if sent.non_2xx:
            raise RuntimeError(f"non-2xx answers: {sent.statuses}")
        await wait_for_replies(double.url, before + total, 300)
        rate = total / (time.perf_counter() - started)
        order = load.order_kept(await replies(double.url), plans, offset)
        in_order = await burst(urls, double.url, offset + 1_500_000) if web > 1 else True
        return rate, order, in_order
    finally:
        for process in processes:
            process.stop()
        drop_database(admin_url, url)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    double = await start_double(workdir)
    try:
        one = await measure(args.database_url, double, workdir, 1, args)
        two = await measure(args.database_url, double, workdir, 2, args)
    finally:
        double.stop()
    print(f"PostgreSQL, 1 x bot serve:                {one[0]:>7.0f} msg/s end to end, "
          f"order kept {one[1][1]}/{one[1][0]}")
    print(f"PostgreSQL, 2 x serve --no-worker + worker: {two[0]:>7.0f} msg/s end to end, "
          f"order kept {two[1][1]}/{two[1][0]}, burst of 5 in order: {two[2]}")
    print(f"ratio two web processes / one: {two[0] / one[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="an existing database used to create and drop bench databases")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    asyncio.run(main(parser.parse_args()))
