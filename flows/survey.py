"""One satisfaction question after an agent resolves a conversation: 1 (very poor) to 5 (great).

The question ends the flow at once: the scores are offered as choices (a button, a number or
the typed title), so an answer arrives as ``survey:answer:<handoff>.<score>`` whenever it comes
and anything else the customer writes goes to the bot as usual — no answer is fine. A low
score goes straight to a person.

    start ──ask──▶ asked
      └──answer [is_score]──▶ answered ─(detractor)─▶ handoff:request:detractor
"""

from __future__ import annotations

from statemachine import State

from bot.escalation import Reason, is_detractor
from bot.messages import N_
from bot.turn import Turn
from flows.base import Flow
from flows.handover import request_handoff

RECORD_JOB = "survey.answer"
"""The scheduler job that stores an answer on the handoff it rates."""
SCORES = (N_("Very poor"), N_("Poor"), N_("OK"), N_("Good"), N_("Great"))


def parse_answer(arg: str | None) -> tuple[int, int] | None:
    """``"12.4"`` → (handoff 12, score 4); None for anything else."""
    handoff, _, score = (arg or "").partition(".")
    if not (handoff.isdigit() and score.isdigit() and 1 <= int(score) <= len(SCORES)):
        return None
    return int(handoff), int(score)


class SurveyFlow(Flow):
    """Asks how the help was and records the answer."""

    flow_name = "survey"

    start = State(initial=True)
    asked = State(final=True)
    answered = State(final=True)

    ask = start.to(asked)
    answer = start.to(answered, cond="is_score")

    def is_score(self, arg: str | None = None) -> bool:
        """Whether the tapped answer is one of the offered scores."""
        return parse_answer(arg) is not None

    def on_ask(self, turn: Turn, arg: str) -> None:
        choices = [self.choice("answer", title, f"{arg}.{score}")
                   for score, title in enumerate(SCORES, start=1)]
        say = turn.say("survey.question", choices=choices)
        say.business_key = f"survey:{arg}:question"
        say.subject = f"survey:{arg}"  # the gate drops it if the customer writes before it goes

    def on_answer(self, turn: Turn, arg: str) -> None:
        parsed = parse_answer(arg)
        assert parsed is not None  # the guard let it through
        handoff_id, score = parsed
        # The first answer counts: the job's key makes a second one a no-op. The conversation
        # goes along so an answer can only rate a handoff of this conversation.
        turn.schedule(RECORD_JOB, f"survey:answer:{self.model.id}:{handoff_id}", turn.now,
                      conversation_id=self.model.id, handoff_id=handoff_id, score=score)
        if is_detractor(score):
            request_handoff(turn, Reason.DETRACTOR)
        else:
            turn.say("survey.thanks")
