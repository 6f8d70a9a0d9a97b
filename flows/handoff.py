"""Handoff to a person: the customer asks, waits in the agents' queue, an agent takes over, and
resolving hands the conversation back to the bot. While waiting or with an agent the bot is silent.

    start ──request──▶ waiting ──claim──▶ with_agent ──resolve──▶ closed
                          └────────────────resolve──────────────────┘
"""

from __future__ import annotations

from statemachine import State

from bot.turn import Turn
from flows.base import Flow


class HandoffFlow(Flow):
    """Puts the conversation in the agents' queue and keeps the bot quiet until it is resolved."""

    flow_name = "handoff"
    silences_bot = frozenset({"waiting", "with_agent"})

    start = State(initial=True)
    waiting = State()
    with_agent = State()
    closed = State(final=True)

    request = start.to(waiting)
    claim = waiting.to(with_agent)
    resolve = waiting.to(closed) | with_agent.to(closed)

    def on_enter_waiting(self, turn: Turn) -> None:
        self.model.data["requested_at"] = turn.now.isoformat()
        turn.say("handoff.requested")
