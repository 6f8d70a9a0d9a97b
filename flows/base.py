"""What every flow shares: binding to the conversation row and the payload convention."""

from __future__ import annotations

from typing import Any, ClassVar

from statemachine import StateChart

from bot.messages import N_, Choice
from bot.store.models import Conversation
from bot.turn import Turn

MAIN_MENU = Choice("faq:greet", N_("Main menu"))
"""The choice that always leads back to the FAQ's greeting and topics."""


class Flow(StateChart):
    """A conversation flow. It keeps no state of its own: the state lives in
    ``conversation.state`` and flow variables in ``conversation.data``, so a flow is rebuilt
    over the loaded row for every event and resumes where it stopped.

    Errors in callbacks propagate (``catch_errors_as_events`` off) so the transaction that
    carries the turn rolls back, and an event the current state cannot take raises
    ``TransitionNotAllowed`` so the engine can answer "didn't understand" instead of nothing.
    """

    catch_errors_as_events = False
    allow_event_without_transition = False

    flow_name: ClassVar[str]
    """Short name stored in ``conversation.flow`` and used as the payload prefix."""
    silences_bot: ClassVar[frozenset[str]] = frozenset()
    """States in which the bot must not answer (a person owns the conversation)."""
    yields_to_faq: ClassVar[bool] = False
    """While this flow waits in the background (a payment reminder), a question the FAQ can
    answer — or a greeting — goes to the FAQ; the flow's own facts live elsewhere and it picks up
    again at its next event."""

    def __init__(self, conversation: Conversation, turn: Turn) -> None:
        super().__init__(model=conversation, state_field="state", turn=turn)

    @classmethod
    def choice(cls, event: str, title: str, arg: str | None = None) -> Choice:
        """A button/numbered choice that sends ``event`` (with ``arg``) to this flow."""
        return Choice(payload(cls.flow_name, event, arg), title)

    @classmethod
    def interpret(cls, text: str, turn: Turn) -> tuple[str, dict[str, Any]]:
        """The event free text sends to this flow while it is active."""
        return "message", {"text": text}

    @classmethod
    def detect(cls, text: str, locale: str) -> tuple[str, dict[str, Any]] | None:
        """The event a free-text message starts this flow with, if it clearly asks for it."""
        return None

    @classmethod
    def answers_itself(cls, text: str) -> bool:
        """Whether a flow that yields to the FAQ has its own answer to ``text`` (which the FAQ's
        forgiving matcher might take for a question it knows)."""
        return False


def payload(flow: str, event: str, arg: str | None = None) -> str:
    """Encode a choice payload: ``<flow>:<event>[:<arg>]``."""
    return f"{flow}:{event}" if arg is None else f"{flow}:{event}:{arg}"


def parse_payload(value: str) -> tuple[str, str, str | None] | None:
    """Decode a payload into (flow, event, arg); None when it is not one of ours."""
    parts = value.split(":", 2)
    if len(parts) < 2 or not all(parts[:2]):
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None
