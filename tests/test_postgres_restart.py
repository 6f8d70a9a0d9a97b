"""PostgreSQL restarted under load: the service carries on by itself once the database is back,
and every message it acknowledged is answered exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import REQUIRE_POSTGRES, new_sid, truncate_tables
from tests.fakes import twilio_form
from tests.serve import ServeProcess, free_port, live_env, post_webhook

pytestmark = pytest.mark.postgres


def _restart_command() -> list[str]:
    """How this machine restarts its PostgreSQL cluster (Debian's pg_ctlcluster, as root)."""
    versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
    if not versions or shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        reason = "restarting PostgreSQL needs Debian's pg_ctlcluster, run as root"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


async def test_restart_mid_load_recovers_without_manual_steps(postgres_url, twilio,
                                                              tmp_path) -> None:
    """Customers write before, throughout and after a PostgreSQL restart: requests during the
    outage are refused (503, not acknowledged), the service needs no restart, and afterwards
    every acknowledged message has exactly one reply."""
    command = _restart_command()
    truncate_tables(postgres_url)  # no rows left by earlier tests for this server to send
    double, twilio_url = twilio
    port = free_port()
    server = ServeProcess(live_env(postgres_url, port, twilio_url), tmp_path / "serve.log",
                          port=port)
    written: list[str] = []
    acknowledged: set[str] = set()
    answers: Counter[int | None] = Counter()  # status (None: no answer) -> how many
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            writers: list[asyncio.Task[None]] = []

            async def customer(number: str) -> None:
                status = await post_webhook(session, server.url,
                                            twilio_form(new_sid(), number, "When will I be charged?"))
                answers[status] += 1
                if status == 200:
                    acknowledged.add(number)

            async def write() -> None:
                """A new customer writes; the next one 30 ms later."""
                written.append(f"+1415557{len(written):04d}")
                writers.append(asyncio.create_task(customer(written[-1])))
                await asyncio.sleep(0.03)

            for _ in range(40):
                await write()
            restart = asyncio.create_task(asyncio.to_thread(
                subprocess.run, command, check=True, capture_output=True))
            # Writing until the restart is over, however long it takes, puts writes in the outage.
            while not restart.done():
                await write()
            for _ in range(40):
                await write()
            await restart
            await asyncio.gather(*writers)
            # Back to normal without touching the service: new customers are answered.
            late = [f"+1415558{n:04d}" for n in range(10)]
            statuses = [await post_webhook(session, server.url,
                                           twilio_form(new_sid(), number, "When will I be charged?"))
                        for number in late]
            assert statuses == [200] * len(late)
            acknowledged.update(late)
            deadline = asyncio.get_running_loop().time() + 60
            while {m.to for m in double.messages} < acknowledged:
                assert asyncio.get_running_loop().time() < deadline, "replies did not arrive"
                await asyncio.sleep(0.2)
    finally:
        await asyncio.to_thread(server.stop)  # the double in this loop answers its last sends
    assert answers[503] > 0, f"nothing was refused during the restart: {answers}"
    assert set(answers) <= {200, 503, None}, answers
    replies = Counter(m.to for m in double.messages)
    assert set(replies) <= acknowledged | set(written)
    assert [n for n, count in replies.items() if count > 1] == []
    assert acknowledged <= set(replies), answers
