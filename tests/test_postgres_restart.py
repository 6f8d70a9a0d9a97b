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
from tests.fakes import encode, sign, twilio_form
from tests.serve import ServeProcess, free_port
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN

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


async def _post(session: aiohttp.ClientSession, base: str, form: dict) -> int | None:
    url = f"{base}/twilio/messages"
    try:
        async with session.post(url, data=encode(form), headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(AUTH_TOKEN, url, form)}) as response:
            return response.status
    except aiohttp.ClientError:
        return None


async def test_restart_mid_load_recovers_without_manual_steps(postgres_url, twilio,
                                                              tmp_path) -> None:
    """Customers keep writing while PostgreSQL restarts: requests during the outage are refused
    (503, not acknowledged), the service needs no restart, and afterwards every acknowledged
    message has exactly one reply."""
    command = _restart_command()
    truncate_tables(postgres_url)  # no rows left by earlier tests for this server to send
    double, twilio_url = twilio
    port = free_port()
    env = {
        "DATABASE_URL": postgres_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_SMS_FROM": "+15005550006", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BOT_SECRET_KEY": "restart-test", "BOT_LOG_LEVEL": "WARNING",
    }
    server = ServeProcess(env, tmp_path / "serve.log", port=port)
    acknowledged: set[str] = set()
    refused = 0
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def customer(n: int) -> None:
                nonlocal refused
                number = f"+1415557{n:04d}"
                status = await _post(session, server.url,
                                     twilio_form(new_sid(), number, "When will I be charged?"))
                if status == 200:
                    acknowledged.add(number)
                else:
                    refused += 1

            writers = []
            for n in range(160):
                writers.append(asyncio.create_task(customer(n)))
                if n == 40:
                    restart = asyncio.create_task(asyncio.to_thread(
                        subprocess.run, command, check=True, capture_output=True))
                await asyncio.sleep(0.03)
            await restart
            await asyncio.gather(*writers)
            # Back to normal without touching the service: new customers are answered.
            late = [f"+1415558{n:04d}" for n in range(10)]
            statuses = [await _post(session, server.url,
                                    twilio_form(new_sid(), number, "When will I be charged?"))
                        for number in late]
            assert statuses == [200] * len(late)
            acknowledged.update(late)
            deadline = asyncio.get_running_loop().time() + 60
            while {m.to for m in double.messages} < acknowledged:
                assert asyncio.get_running_loop().time() < deadline, "replies did not arrive"
                await asyncio.sleep(0.2)
    finally:
        server.stop()
    replies = Counter(m.to for m in double.messages)
    assert set(replies) <= acknowledged | {f"+1415557{n:04d}" for n in range(160)}
    assert [n for n, count in replies.items() if count > 1] == []
    assert acknowledged <= set(replies)
    assert len(acknowledged) > 100, f"only {len(acknowledged)} acknowledged, {refused} refused"
