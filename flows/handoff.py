"""Handoff to a person: the customer asks (or the bot gives up, or they are upset), waits in the
agents' queue, an agent takes over, and resolving hands the conversation back to the bot. While
waiting or with an agent the bot is silent. A handoff nobody claims — or whose agent goes
silent — comes back to the bot after a set amount of working time, and the customer is told.

    start ──request──▶ waiting ──claim / reply──▶ with_agent ◀──reply, take_over──┐
                         │  │                       │  │  └──────────────────────┘
                         │  └─────resolve───▶ resolved ◀──resolve──┘  │
                         └─────time_out────▶ returned ◀──time_out─────┘

The conversation data keeps what agents need: when and why it was requested, where the
conversation was before (``before``: flow, state and data), who has it, and when it returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from statemachine import State

from bot.escalation import Reason, escalation_for
from bot.handoff_config import HandoffConfig
from bot.turn import Turn
from bot.working_hours import format_opening, reader_zone
from flows.base import Flow
from flows.handover import HANDOFF_FLOW, hand_over

RETURN_JOB = "handoff.return"
"""The scheduler job that gives an unclaimed or silent handoff back to the bot."""


AGENT_MESSAGE = "handoff.agent_message"
"""The message an agent's typed reply is sent as (an operator may map it to an approved template)."""

MAX_REASON_CHARS = 64
"""A handoff's reason is kept to the length of the handoff record's (a customer's button
payload carries it, so it can be anything)."""


class HandoffFlow(Flow):
    """Puts the conversation in the agents' queue and keeps the bot quiet until it is resolved."""

    flow_name = HANDOFF_FLOW
    silences_bot = frozenset({"waiting", "with_agent"})

    start = State(initial=True)
    waiting = State()
    with_agent = State()
    resolved = State(final=True)
    returned = State(final=True)

    request = start.to(waiting)
    claim = waiting.to(with_agent)
    reply = waiting.to(with_agent) | with_agent.to.itself()
    take_over = with_agent.to.itself()
    """A colleague takes a conversation whose agent has left (deactivated)."""
    resolve = waiting.to(resolved) | with_agent.to(resolved)
    time_out = waiting.to(returned) | with_agent.to(returned)

    @classmethod
    def detect(cls, text: str, locale: str) -> tuple[str, dict[str, Any]] | None:
        """An explicit ask for a person, or strong frustration, in any locale."""
        reason = escalation_for(text)
        return None if reason is None else ("request", {"arg": str(reason)})

    # -- actions --------------------------------------------------------------------------------

    def on_enter_waiting(self, turn: Turn, arg: str | None = None,
                         previous: dict[str, Any] | None = None) -> None:
        config = turn.config.get(HandoffConfig)
        hours = config.weekly_hours()
        data = self.model.data
        data["requested_at"] = turn.now.isoformat()
        data["reason"] = (arg or str(Reason.ASKED))[:MAX_REASON_CHARS]
        if previous is not None:
            data["before"] = previous
        turn.conversation.misunderstood = 0
        opens = hours.next_opening(turn.now)
        opens_at = None
        if opens > turn.now:
            zone = reader_zone(opens, turn.contact.timezone, turn.contact.address, config.timezone)
            opens_at = format_opening(opens, turn.locale, zone)
        self._say(turn, "requested", reason=data["reason"], opens_at=opens_at)
        self._return_at(turn, hours.add_working_time(turn.now, config.unclaimed_limit))

    def on_enter_with_agent(self, turn: Turn, agent: str) -> None:
        data = self.model.data
        data["agent"] = agent
        data.setdefault("claimed_at", turn.now.isoformat())
        config = turn.config.get(HandoffConfig)
        self._return_at(turn, config.weekly_hours().add_working_time(turn.now, config.silent_limit))

    def on_reply(self, turn: Turn, text: str, business_key: str, message_kind: str,
                 template: str | None = None) -> None:
        say = turn.say(template or AGENT_MESSAGE, text=text)
        say.business_key = business_key
        say.kind = message_kind

    def on_enter_resolved(self, turn: Turn, handoff_id: int, answered: bool) -> None:
        if answered and turn.config.get(HandoffConfig).ask_satisfaction:
            hand_over(turn, f"survey:ask:{handoff_id}")
        else:
            self._say(turn, "resolved")

    def on_enter_returned(self, turn: Turn) -> None:
        self._say(turn, "returned")

    # -- helpers --------------------------------------------------------------------------------

    def _say(self, turn: Turn, name: str, **variables: Any) -> None:
        say = turn.say(f"handoff.{name}", **variables)
        # Keyed by the request, so a re-run turn never says it twice; it may run without a
        # customer message (a timeout, an agent's action).
        say.business_key = f"handoff:{self.model.id}:{self.model.data['requested_at']}:{name}"

    def _return_at(self, turn: Turn, at: datetime) -> None:
        """Give the conversation back to the bot at ``at`` unless something happens first."""
        self.model.data["return_at"] = at.isoformat()
        turn.schedule(RETURN_JOB, f"handoff:return:{self.model.id}:{at.isoformat()}", at,
                      conversation_id=self.model.id, return_at=at.isoformat())
