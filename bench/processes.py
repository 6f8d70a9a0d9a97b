"""Start and stop the real processes that benchmarks measure and live tests drive (tests.serve
uses these too: one implementation)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_env(database_url: str, port: int, twilio_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``bot`` process with Twilio credentials, sending to the Twilio
    double at ``twilio_url`` and answering webhooks signed for ``127.0.0.1:port``."""
    return {"DATABASE_URL": database_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": twilio_url,
            "TWILIO_SMS_FROM": "+15005550006", "TWILIO_WHATSAPP_FROM": "whatsapp:+15005550006",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "BOT_SECRET_KEY": "live-process",
            "BOT_LOG_LEVEL": "WARNING", **extra}


class Process:
    """A child Python process, its output in a log file; if it serves HTTP, on ``port``."""

    def __init__(self, args: list[str], port: int, log: Path, env: dict[str, str] | None = None,
                 ready_path: str = "/") -> None:
        self.args, self.port, self.log, self.ready_path = args, port, log, ready_path
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        """Start the process (returns at once)."""
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen([sys.executable, *self.args], cwd=ROOT, env=self.env,
                                          stdout=out, stderr=subprocess.STDOUT)

    async def start(self, timeout: float = 60) -> Process:
        """Start the process and wait until ``ready_path`` answers without a 5xx."""
        self.spawn()
        assert self.popen is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.args} exited: {self._log_tail()}")
                try:
                    async with session.get(self.url + self.ready_path) as response:
                        if response.status < 500:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.args} did not start: {self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def cpu_seconds(self) -> float:
        """User + system CPU the process has used so far (Linux /proc)."""
        assert self.popen is not None
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """kill -9: no shutdown code runs (the wait returns at once)."""
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 20) -> None:
        """Ask the process to shut down; kill it if it has not within ``timeout`` seconds.

        This blocks while the process finishes its work: from async code whose event loop serves
        something the process talks to (a Twilio double in the test), run it in a thread."""
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class ServeProcess(Process):
    """``bot serve`` on ``port`` (a free one by default), ready once /healthz answers."""

    def __init__(self, env: dict[str, str], log: Path, *, port: int | None = None,
                 args: tuple[str, ...] = ()) -> None:
        port = port or free_port()
        super().__init__(["-m", "bot", "serve", "--port", str(port), *args], port, log, env=env,
                         ready_path="/healthz")


class WorkerProcess(Process):
    """``bot worker`` (the sender and the scheduler); it serves no HTTP, so ``spawn`` it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(["-m", "bot", "worker"], 0, log, env=env)
