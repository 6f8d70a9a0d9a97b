"""The conversation engine: one customer message (or scheduled event) in, effects out.

Order, per message: map a numbered/typed answer to its choice → compliance keywords and
plain-language revocation ("stop texting me") → "what did I agree to?" (they pre-empt
everything) → a person owns the conversation? stay silent → route to a flow and run it → the
bot failed to understand too often in a row? hand over to a person instead.
Everything here is synchronous and pure over the loaded rows; the caller persists the Turn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from statemachine.exceptions import TransitionNotAllowed

from bot.escalation import Reason, misunderstood_too_often
from bot.handoff_config import HandoffConfig
from bot.keywords import KeywordKind, asks_about_consent, classify_keyword, fold, is_revocation
from bot.messages import Channel
from bot.turn import Turn
from flows.base import MAIN_MENU, Flow, parse_payload
from flows.handover import HANDOFF_FLOW, take_next_route
from flows.subscription import PERSON

if TYPE_CHECKING:
    from bot.store.models import Contact

log = logging.getLogger(__name__)

ConsentLink = Callable[["Contact", datetime], tuple[str, datetime]]
"""Makes a contact's no-login consent page link: (url, expires_at)."""

DEFAULT_FLOW = "faq"


class ConversationEngine:
    """Routes each event of a conversation to the right flow and runs it."""

    def __init__(self, flows: Sequence[type[Flow]], *, sms_own_keyword_replies: bool = False,
                 consent_link: ConsentLink | None = None) -> None:
        self.flows: dict[str, type[Flow]] = {flow.flow_name: flow for flow in flows}
        self.sms_own_keyword_replies = sms_own_keyword_replies
        self.consent_link = consent_link

    # -- inbound ------------------------------------------------------------------------------------

    def handle_message(self, turn: Turn) -> str:
        """Handle the turn's inbound message; returns the outcome recorded with the message."""
        inbound = turn.inbound
        assert inbound is not None
        conversation = turn.conversation
        payload, keyword = inbound.payload, None
        if payload is None:
            keyword = classify_keyword(inbound.text)
            if keyword is not KeywordKind.OPT_OUT:
                # An opt-out is never read as a choice's title (an FAQ topic called "Cancel"):
                # Twilio has opted the number out already. "Yes" may answer the menu, though.
                payload = chosen_payload(conversation.choices, inbound.text)

        if payload is None:
            if keyword is not None and self._handle_keyword(turn, keyword):
                return f"keyword:{keyword}"
            if keyword is None and is_revocation(inbound.text):
                self._revoke(turn, inbound.text)
                return "revoked"
            if self.consent_link is not None and asks_about_consent(inbound.text):
                self._answer_consent_question(turn, self.consent_link)
                return "consent"

        active = self.flows.get(conversation.flow or "")
        if active is not None and conversation.state in active.silences_bot:
            return "to_agent"
        if payload is None and inbound.media and not inbound.text.strip():
            waiting = active is not None and active.flow_name != DEFAULT_FLOW
            self._say_text_only(turn, waiting=waiting)
            return "media"

        flow_name, event, kwargs = self._route(turn, payload, active)
        misunderstood, said = conversation.misunderstood, len(turn.says)
        self.run(turn, flow_name, event, **kwargs)
        if conversation.misunderstood <= misunderstood:
            conversation.misunderstood = 0  # understood: the count is of misses in a row
        elif misunderstood_too_often(conversation.misunderstood,
                                     turn.config.get(HandoffConfig).escalate_after_misunderstood):
            # One message that says a person is coming, instead of "I'm not sure" first.
            del turn.says[said:]
            self.run(turn, HANDOFF_FLOW, "request", arg=str(Reason.NOT_UNDERSTOOD))
        return "handled"

    @staticmethod
    def _say_text_only(turn: Turn, *, waiting: bool) -> None:
        """A photo, voice note or file alone: the bot reads only text, and says so plainly —
        not a question it missed. A flow waiting on a choice keeps its choices; elsewhere a
        person is offered (a screenshot usually needs one)."""
        pending = turn.offered_choices if waiting else []
        turn.say("common.text_only", choices=pending or [PERSON, MAIN_MENU])

    def _handle_keyword(self, turn: Turn, keyword: KeywordKind) -> bool:
        """Apply a STOP/START/HELP keyword; False when it is not one here (a plain "yes")."""
        text = turn.inbound.text if turn.inbound else None
        own_reply = turn.channel is Channel.WHATSAPP or self.sms_own_keyword_replies
        if keyword is KeywordKind.OPT_OUT:
            turn.record_consent("opt_out", "keyword", text)
            if own_reply:
                turn.confirm("common.opted_out")
            return True
        if keyword is KeywordKind.OPT_IN:
            if not turn.contact.opted_out:
                return False  # "yes" answers a question unless the contact is opted out
            turn.record_consent("opt_in", "keyword", text)
            if own_reply:
                turn.confirm("common.opted_in")
            return True
        if own_reply:
            turn.confirm("common.help")  # answered after STOP too, like the confirmations
        return True

    @staticmethod
    def _revoke(turn: Turn, text: str) -> None:
        """A plain "stop texting me" means STOP. Twilio only acts on the bare keywords, so on
        SMS too the confirmation is ours to send."""
        turn.record_consent("opt_out", "message", text)
        turn.confirm("common.opted_out")

    @staticmethod
    def _answer_consent_question(turn: Turn, consent_link: ConsentLink) -> None:
        """Summarize the contact's consent and link to their history and data (a no-login page).
        It answers the customer's own question, so it reaches an opted-out contact too."""
        link, until = consent_link(turn.contact, turn.now)
        turn.confirm("consent.summary", subscribed=not turn.contact.opted_out, link=link,
                     until=until)

    def _route(self, turn: Turn, payload: str | None,
               active: type[Flow] | None) -> tuple[str, str, dict[str, Any]]:
        """Pick (flow, event, arguments): a tapped choice, a phrase that starts a flow,
        the active flow's reading of the text, or the FAQ."""
        if payload is not None:
            parsed = parse_payload(payload)
            if parsed is not None and parsed[0] in self.flows:
                flow_name, event, arg = parsed
                return flow_name, event, {"arg": arg}
        text = turn.inbound.text if turn.inbound else ""
        for flow in self.flows.values():
            detected = flow.detect(text, turn.locale)
            if detected is not None:
                return flow.flow_name, detected[0], detected[1]
        chosen = active or self.flows[DEFAULT_FLOW]
        if chosen.yields_to_faq and not chosen.answers_itself(text) and (
                turn.faq.is_greeting(text) or turn.faq.courtesy(text) or turn.faq.match(text)):
            chosen = self.flows[DEFAULT_FLOW]
        event, kwargs = chosen.interpret(text, turn)
        return chosen.flow_name, event, kwargs

    # -- any event ----------------------------------------------------------------------------------

    def run(self, turn: Turn, flow_name: str, event: str, **kwargs: Any) -> None:
        """Send ``event`` to ``flow_name``, starting that flow if it is not the active one."""
        conversation = turn.conversation
        flow_class = self.flows[flow_name]
        if conversation.flow != flow_name:
            # The flow starting learns where the conversation was (an agent wants to know).
            kwargs["previous"] = ({"flow": conversation.flow, "state": conversation.state,
                                   "data": dict(conversation.data)}
                                  if conversation.flow else None)
            conversation.flow = flow_name
            conversation.state = None
            conversation.data.clear()
        flow = flow_class(conversation, turn)
        try:
            flow.send(event, turn=turn, **kwargs)
        except TransitionNotAllowed:
            self._did_not_understand(turn)
            return
        next_route = take_next_route(conversation)
        if flow.is_terminated:
            conversation.flow = None
            conversation.state = None
            conversation.data.clear()
        parsed = parse_payload(next_route) if next_route else None
        if parsed is not None and parsed[0] in self.flows:
            self.run(turn, parsed[0], parsed[1], arg=parsed[2])

    def _did_not_understand(self, turn: Turn) -> None:
        """Answer an event the current state cannot take: say so and repeat the choices."""
        turn.conversation.misunderstood += 1
        turn.say("common.did_not_understand", choices=turn.offered_choices or [MAIN_MENU])


_POLITE = ("PLEASE", "PLS", "PLZ", "THANKS", "THANK YOU", "THX", "OK", "OKAY", "POR FAVOR",
           "GRACIAS", "OBRIGADO", "OBRIGADA", "PF")
"""Courtesies around a typed choice ("2 months please", "ok, 3"), in the shipped languages."""
# Portuguese "um" is left out: in English it is a hesitation, never a pick of the first choice.
_NUMBER_WORDS = {
    word: str(number) for number, words in enumerate((
        (), ("ONE", "UNO", "UNA"), ("TWO", "DOS", "DOIS", "DUAS"),
        ("THREE", "TRES"), ("FOUR", "CUATRO", "QUATRO"), ("FIVE", "CINCO"), ("SIX", "SEIS"),
        ("SEVEN", "SIETE", "SETE"), ("EIGHT", "OCHO", "OITO"), ("NINE", "NUEVE", "NOVE"),
        ("TEN", "DIEZ", "DEZ"))) for word in words}
_POLITE_EDGES = re.compile(rf"^(?:(?:{'|'.join(_POLITE)})\b\s*)+|(?:\s*\b(?:{'|'.join(_POLITE)}))+$")


def _plainly(folded: str) -> str:
    """A folded answer or title without courtesies at its ends and with its numbers in digits:
    "TWO MONTHS PLEASE" → "2 MONTHS"."""
    words = _POLITE_EDGES.sub("", folded).split()
    return " ".join(_NUMBER_WORDS.get(word, word) for word in words)


def chosen_payload(choices: list[dict[str, str]], text: str) -> str | None:
    """Map an answer to the last offered choices: its number ("2", "2.", "two") or its title,
    as typed or with a courtesy around it ("2 months please"). Any other word means it is not
    simply a choice ("not 2 months", "I don't want to switch plan"), so nothing is picked."""
    if not choices:
        return None
    folded = fold(text)
    for choice in choices:
        if folded and fold(choice["title"]) == folded:
            return choice["payload"]
    plain = _plainly(folded)
    if plain.isdigit():
        index = int(plain) - 1
        return choices[index]["payload"] if 0 <= index < len(choices) else None
    if not plain or classify_keyword(plain) is KeywordKind.OPT_OUT:
        return None  # "cancel please" is never a choice titled "Cancel"
    matching = [choice["payload"] for choice in choices if _plainly(fold(choice["title"])) == plain]
    return matching[0] if len(matching) == 1 else None
