"""Start and stop the processes a benchmark measures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process serving HTTP on a port, with its output in a log file."""

    def __init__(self, args: list[str], port: int, log: Path, env: dict[str, str] | None = None,
                 ready_path: str = "/") -> None:
        self.args, self.port, self.log, self.ready_path = args, port, log, ready_path
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen([sys.executable, *self.args], cwd=ROOT, env=self.env,
                                          stdout=out, stderr=subprocess.STDOUT)

    async def start(self, timeout: float = 60) -> Process:
        self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                assert self.popen is not None
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.args} exited; see {self.log}")
                try:
                    async with session.get(self.url + self.ready_path) as response:
                        if response.status < 500:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.args} did not start; see {self.log}")

    def cpu_seconds(self) -> float:
        """User + system CPU the process has used so far (Linux /proc)."""
        assert self.popen is not None
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
