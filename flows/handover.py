"""How a flow passes the conversation to another flow within the same turn.

A flow cannot run another flow (flows are pure and know nothing of the engine), so it leaves
the route in the conversation — ``hand_over(turn, "survey:ask:12")`` — and the engine, after
the flow's event, takes it out and runs it: the same ``<flow>:<event>[:<arg>]`` a button sends.
"""

from __future__ import annotations

from bot.escalation import Reason
from bot.store.models import Conversation
from bot.turn import Turn
from flows.base import payload

HANDOFF_FLOW = "handoff"
"""The handoff flow's name (``HandoffFlow.flow_name`` is this): defined here, which
flows/handoff.py imports, so routing to it needs no import of that flow."""
_NEXT = "_next_route"


def hand_over(turn: Turn, route: str) -> None:
    """Run ``route`` (a payload) right after the current event, in this turn."""
    turn.conversation.data[_NEXT] = route


def request_handoff(turn: Turn, reason: Reason | str) -> None:
    """Put the conversation in the agents' queue after the current event, with ``reason``."""
    hand_over(turn, payload(HANDOFF_FLOW, "request", str(reason)))


def take_next_route(conversation: Conversation) -> str | None:
    """The route a flow left for the engine, removed so it runs once."""
    return conversation.data.pop(_NEXT, None)
