"""Sandbox transport: "sends" by printing; the outbox row itself is the record the simulator reads."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from bot.channels.transport import OutgoingMessage
from bot.logs import mask_address


class ConsoleTransport:
    """Prints outbound messages instead of calling Twilio (sandbox mode and ``bot chat``)."""

    timeout = 0.0

    def __init__(self, stream: TextIO | None = None, *, chat: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.chat = chat

    async def send(self, message: OutgoingMessage) -> str:
        buttons = "".join(f"\n   [{c.title}]" for c in message.buttons)
        speaker = "bot" if self.chat else f"→ {message.channel} {mask_address(message.to)}"
        print(f"{speaker}: {message.body}{buttons}", file=self.stream, flush=True)
        return f"SMSANDBOX{message.outbox_id:023d}"

    async def find_sent(self, message: OutgoingMessage, since: datetime) -> list[str]:
        return []

    async def close(self) -> None:
        return None
