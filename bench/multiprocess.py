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
from bench.processes import Process, free_port
from bench.run import TOKEN, bot_env, double_count, replies, wait_for_replies


async def closed_loop_spread(urls: list[str], plans: list[list[load.Request]],
                             concurrency: int) -> load.Result:
    """Like load.closed_loop, conversation c posting to urls[c % len(urls)]."""
    result = load.Result()
    queue = list(reversed(plans))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            while queue:
                requests = queue.pop()
                for request in requests:
                    await load._post(session, urls[request.conversation % len(urls)], request,
                                     result)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result


async def burst(urls: list[str], double_url: str, offset: int) -> bool:
    """5 messages from one customer, 20 ms apart, alternating web processes: answered in order?"""
    plans = load.build(1, 5, "", TOKEN, offset=offset, whatsapp_share=0)
    # Each process checks the signature against its own public URL, so sign per target.
    signed = [load.build(1, 5, url + "/twilio/messages", TOKEN, offset=offset,
                         whatsapp_share=0)[0] for url in urls]
    before = await double_count(double_url)
    result = load.Result()
    async with aiohttp.ClientSession() as session:
        tasks = []
        for j in range(5):
            target = j % len(urls)
            tasks.append(asyncio.create_task(load._post(
                session, urls[target] + "/twilio/messages", signed[target][j], result)))
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)
    await wait_for_replies(double_url, before + 5, 60)
    return load.order_kept(await replies(double_url), plans, offset) == (1, 1)


async def measure(admin_url: str, double: Process, workdir: Path, web: int,
                  args: argparse.Namespace) -> tuple[float, tuple[int, int], bool]:
    url = fresh_database(admin_url)
    processes: list[Process] = []
    try:
        ports = [free_port() for _ in range(web)]
        for n, port in enumerate(ports):
            extra = [] if web == 1 else ["--no-worker"]
            env = bot_env(url, port, double.url)
            processes.append(await Process(["-m", "bot", "serve", "--port", str(port), *extra],
                                           port, workdir / f"web{web}-{n}.log", env=env,
                                           ready_path="/healthz").start())
        if web > 1:
            worker = Process(["-m", "bot", "worker"], 0, workdir / f"worker{web}.log",
                             env=bot_env(url, ports[0], double.url))
            worker.spawn()
            processes.append(worker)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        offset = web * 2_000_000
        # Each process checks signatures against its own PUBLIC_BASE_URL: sign per process.
        plans = [[load.build(args.conversations, args.messages, u + "/twilio/messages", TOKEN,
                             offset=offset)[c] for c in range(args.conversations)]
                 for u in urls]
        spread = [plans[c % web][c] for c in range(args.conversations)]
        total = args.conversations * args.messages
        before = await double_count(double.url)
        started = time.perf_counter()
        sent = await closed_loop_spread([u + "/twilio/messages" for u in urls], spread,
                                        args.concurrency)
        if sent.non_2xx:
            raise RuntimeError(f"non-2xx answers: {sent.statuses}")
        await wait_for_replies(double.url, before + total, 300)
        rate = total / (time.perf_counter() - started)
        order = load.order_kept(await replies(double.url), spread, offset)
        in_order = await burst(urls, double.url, offset + 1_500_000) if web > 1 else True
        return rate, order, in_order
    finally:
        for process in processes:
            process.stop()
        drop_database(admin_url, url)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    port = free_port()
    double = await Process(["-m", "bench.double_server", "--port", str(port)], port,
                           workdir / "double.log", ready_path="/stats").start()
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
