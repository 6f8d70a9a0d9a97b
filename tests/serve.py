"""Drive the real ``bot serve`` and ``bot worker`` processes (crash, restart and browser tests).

The processes and their environment are bench's (``bench.processes``), shared with the
benchmarks; this module adds what only the tests need.
"""

from __future__ import annotations

import aiohttp

from bench.processes import ServeProcess, WorkerProcess, free_port, live_env
from tests.fakes import encode, sign
from tests.twilio_double import AUTH_TOKEN

__all__ = ["ServeProcess", "WorkerProcess", "free_port", "live_env", "post_webhook"]


async def post_webhook(session: aiohttp.ClientSession, base: str, form: dict[str, str]) -> int | None:
    """POST ``form`` to ``base``'s /twilio/messages signed as Twilio would (with the double's
    auth token); returns the status, or None when the connection failed (not acknowledged)."""
    url = f"{base}/twilio/messages"
    try:
        async with session.post(url, data=encode(form), headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(AUTH_TOKEN, url, form)}) as response:
            return response.status
    except aiohttp.ClientError:
        return None
