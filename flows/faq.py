"""FAQ: greet, answer questions from the locale's FAQ file, and offer a person when unsure.

    welcome ──ask [knows_answer]──▶ answering ◀──ask [knows_answer]── unsure
       │                              │  ▲                              ▲
       └──────────ask──────────────────┼──┼─────────────────────────────┘ (ask, no answer)
                                       └──┘ ask [knows_answer] / pick [is_topic]
    greet: any state ──▶ welcome
    thank: any state, staying there ("thanks" is answered, "ok" and 👍 are let be)
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from bot.faq import Courtesy, FaqEntry, FaqMatch
from bot.messages import N_, Choice
from bot.turn import Turn
from flows.base import MAIN_MENU, Flow
from flows.handoff import HandoffFlow

TALK_TO_PERSON = N_("Talk to a person")


def acknowledge(turn: Turn, courtesy: Courtesy) -> None:
    """Not a question the bot missed: "thanks" gets "you're welcome", "no thanks" a short
    closing; an "ok" or a 👍 needs no answer (a reply to it would invite another, and so on)."""
    turn.conversation.misunderstood = 0
    if courtesy is Courtesy.THANKS:
        turn.say("faq.thanks")
    elif courtesy is Courtesy.NO_THANKS:
        turn.say("faq.no_thanks")


class FaqFlow(Flow):
    """Answers questions from the FAQ file of the contact's locale."""

    flow_name = "faq"

    welcome = State(initial=True)
    answering = State()
    unsure = State()

    greet = welcome.to.itself() | answering.to(welcome) | unsure.to(welcome)
    ask = (
        welcome.to(answering, cond="knows_answer")
        | answering.to.itself(cond="knows_answer")
        | unsure.to(answering, cond="knows_answer")
        | welcome.to(unsure)
        | answering.to(unsure)
        | unsure.to.itself()
    )
    pick = (
        welcome.to(answering, cond="is_topic")
        | answering.to.itself(cond="is_topic")
        | unsure.to(answering, cond="is_topic")
    )
    # Targetless: a thanks leaves the conversation where it was.
    thank = welcome.to(None) | answering.to(None) | unsure.to(None)

    @classmethod
    def interpret(cls, text: str, turn: Turn) -> tuple[str, dict[str, Any]]:
        """Free text is a greeting, a thanks or acknowledgement, or a question."""
        if turn.faq.is_greeting(text):
            return "greet", {}
        courtesy = turn.faq.courtesy(text)
        if courtesy is not None:
            return "thank", {"courtesy": courtesy}
        return "ask", {"text": text}

    # -- guards ---------------------------------------------------------------------------------

    def knows_answer(self, turn: Turn, text: str) -> bool:
        """Whether the FAQ has an answer close enough to the question."""
        return self._match(turn, text) is not None

    def is_topic(self, turn: Turn, arg: str | None = None) -> bool:
        """Whether a tapped topic still exists in the FAQ."""
        return arg is not None and arg in turn.faq.entries

    # -- actions --------------------------------------------------------------------------------

    def on_greet(self, turn: Turn) -> None:
        turn.conversation.misunderstood = 0
        turn.say("faq.greeting", choices=self._menu(turn))

    def on_thank(self, turn: Turn, courtesy: Courtesy) -> None:
        acknowledge(turn, courtesy)

    def on_enter_answering(self, turn: Turn, text: str | None = None, arg: str | None = None) -> None:
        entry = turn.faq.entries[arg] if arg is not None else self._match(turn, text or "").entry
        turn.conversation.misunderstood = 0
        self.model.data["last_topic"] = entry.id
        turn.say("faq.answer", answer=entry.answer, title=entry.title,
                 choices=self._follow_ups(turn, entry))

    def on_enter_unsure(self, turn: Turn) -> None:
        turn.conversation.misunderstood += 1
        choices = [*self._menu(turn)[:2], HandoffFlow.choice("request", TALK_TO_PERSON)]
        turn.say("faq.unsure", again=turn.conversation.misunderstood > 1, choices=choices)

    # -- helpers --------------------------------------------------------------------------------

    def _match(self, turn: Turn, text: str) -> FaqMatch | None:
        cache: dict[str, FaqMatch | None] = self.__dict__.setdefault("_matches", {})
        if text not in cache:
            cache[text] = turn.faq.match(text)
        return cache[text]

    def _menu(self, turn: Turn) -> list[Choice]:
        return [self._choice_for(turn, ref) for ref in turn.faq.menu]

    def _follow_ups(self, turn: Turn, entry: FaqEntry) -> list[Choice]:
        return [self._choice_for(turn, ref) for ref in turn.faq.follow_ups_of(entry)] or [MAIN_MENU]

    def _choice_for(self, turn: Turn, ref: str) -> Choice:
        if ref in turn.faq.entries:
            return self.choice("pick", turn.faq.entries[ref].title, ref)
        action = turn.faq.actions[ref]
        return Choice(action.payload, action.title)
