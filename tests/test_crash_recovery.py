"""kill -9 of a real ``bot serve``, or of its ``bot worker``, under load: every acknowledged
message is answered exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from tests.conftest import new_sid
from tests.fakes import twilio_form
from tests.serve import ServeProcess, WorkerProcess, free_port, live_env, post_webhook
from tests.twilio_double import Fault

# Short enough that a send cut off by the kill is reconciled within the test.
FAST_RECOVERY = {"BOT_TWILIO_TIMEOUT_SECONDS": "2", "BOT_SEND_LEASE_SECONDS": "3"}


async def _wait_until(predicate, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.1)


async def test_kill_minus_nine_loses_and_doubles_nothing(database_url, twilio, tmp_path) -> None:
    """Customers on SMS and WhatsApp write while the double fails some sends and the server is
    killed mid-load; after a restart every acknowledged message has exactly one reply."""
    double, twilio_url = twilio
    double.delay = 0.02  # keep sends in flight when the process dies
    double.fail_next(Fault(500), Fault(429, 20429, "Too Many Requests"), Fault(500))
    port = free_port()
    env = live_env(database_url, port, twilio_url, **FAST_RECOVERY)
    server = ServeProcess(env, tmp_path / "serve.log", port=port)
    customers = [f"+1415555{n:04d}" for n in range(60)]
    forms = {c: twilio_form(new_sid(), c if n % 2 else f"whatsapp:{c}", "When will I be charged?")
             for n, c in enumerate(customers)}
    acknowledged: set[str] = set()

    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def write(customer: str) -> None:
                if await post_webhook(session, server.url, forms[customer]) == 200:
                    acknowledged.add(customer)

            first = [asyncio.create_task(write(c)) for c in customers[:40]]
            await _wait_until(lambda: len(acknowledged) >= 20 and len(double.messages) >= 5, 20)
            server.kill()
            await asyncio.gather(*first)
            acknowledged_before_kill = len(acknowledged)
            assert acknowledged_before_kill > 0

            await server.start()
            # Twilio's side retries what we never acknowledged; repeats must be no-ops.
            await asyncio.gather(*(write(c) for c in customers))
            assert acknowledged == set(customers)
            await _wait_until(lambda: {m.to.removeprefix("whatsapp:") for m in double.messages}
                              >= acknowledged, 30)
    finally:
        await asyncio.to_thread(server.stop)  # the double in this loop answers its last sends

    replies = Counter(m.to.removeprefix("whatsapp:") for m in double.messages)
    log_tail = (tmp_path / "serve.log").read_text()[-3000:]
    context = f"acked before kill: {acknowledged_before_kill}; log: {log_tail}"
    assert set(customers) - set(replies) == set(), context
    assert [c for c, n in replies.items() if n != 1] == [], context
    assert all("same day each month" in m.body for m in double.messages)


async def test_kill_minus_nine_of_the_worker_mid_send(database_url, twilio, tmp_path) -> None:
    """With the web process and the worker apart, killing the worker while sends are in flight
    loses nothing and doubles nothing: a new worker finds what went out and sends the rest."""
    double, twilio_url = twilio
    double.delay = 0.3  # sends stay in flight long enough to be cut off
    port = free_port()
    env = live_env(database_url, port, twilio_url, **FAST_RECOVERY)
    web = ServeProcess(env, tmp_path / "serve.log", port=port, args=("--no-worker",))
    worker = WorkerProcess(env, tmp_path / "worker.log")
    customers = [f"+1415556{n:04d}" for n in range(120)]  # more than one batch in flight
    await web.start()
    try:
        async with aiohttp.ClientSession() as session:
            statuses = await asyncio.gather(*(
                post_webhook(session, web.url,
                             twilio_form(new_sid(), c if n % 2 else f"whatsapp:{c}",
                                         "When will I be charged?"))
                for n, c in enumerate(customers)))
        assert statuses == [200] * len(customers)
        assert double.messages == []  # nothing is sent without a worker
        worker.spawn()
        await _wait_until(lambda: double.requests >= 10, 30)
        worker.kill()  # requests reached Twilio, their answers never reached the worker
        sent_before_kill = double.requests
        assert sent_before_kill < len(customers)
        worker.spawn()
        await _wait_until(lambda: {m.to.removeprefix("whatsapp:") for m in double.messages}
                          >= set(customers), 60)
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(web.stop)

    replies = Counter(m.to.removeprefix("whatsapp:") for m in double.messages)
    context = f"sent before the kill: {sent_before_kill}; log: " + (
        tmp_path / "worker.log").read_text()[-2000:]
    assert set(replies) == set(customers), context
    assert [c for c, n in replies.items() if n != 1] == [], context
