"""The Twilio double from the tests, as its own process, plus the routes the benchmarks read it
through (/stats, /replies) and the functions that start and read it."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.processes import Process, free_port
from tests.twilio_double import TwilioDouble


def make_app() -> web.Application:
    double = TwilioDouble()
    app = double.app()

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"messages": len(double.messages)})

    async def replies(_request: web.Request) -> web.Response:
        return web.json_response([[m.to, m.body] for m in double.messages])

    app.router.add_get("/stats", stats)
    app.router.add_get("/replies", replies)
    return app


async def start_double(workdir: Path) -> Process:
    """The double in its own process on a free port, logging into ``workdir``."""
    port = free_port()
    return await Process(["-m", "bench.double_server", "--port", str(port)], port,
                         workdir / "double.log", ready_path="/stats").start()


async def double_count(double_url: str) -> int:
    """How many messages the double has received (accepted) so far."""
    async with aiohttp.ClientSession() as session, session.get(double_url + "/stats") as response:
        return (await response.json())["messages"]


async def wait_for_replies(double_url: str, expected: int, timeout: float) -> float:
    """Seconds until the double has ``expected`` messages (TimeoutError after ``timeout``)."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            async with session.get(double_url + "/stats") as response:
                if (await response.json())["messages"] >= expected:
                    return time.perf_counter() - started
            await asyncio.sleep(0.02)
    raise TimeoutError(f"replies did not all arrive within {timeout}s")


async def replies(double_url: str) -> list[list[str]]:
    """Every message the double received, as [to, body], in order."""
    async with aiohttp.ClientSession() as session, session.get(double_url + "/replies") as r:
        return await r.json()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)
