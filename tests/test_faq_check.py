"""The FAQ checks: what breaks the bot is refused, what WhatsApp or SMS make awkward is warned."""

from __future__ import annotations

import yaml

from bot.faq_editor import check_faq
from bot.template_lint import Severity


def _faq(**entry: object) -> str:
    base = {"id": "billing", "title": "Billing date", "questions": ["when am I charged"],
            "answer": "On the day you subscribed.", "follow_ups": ["card"]}
    card = {"id": "card", "title": "Update my card", "questions": ["change my card"],
            "answer": "Under Account."}
    return yaml.safe_dump({"menu": ["billing", "card"], "entries": [{**base, **entry}, card]})


def _found(text: str, severity: Severity) -> list[str]:
    return [p.rule for p in check_faq("en", text).problems if p.severity is severity]


def test_a_plain_faq_passes() -> None:
    """A well-formed FAQ has no problem and builds the book the bot answers from."""
    check = check_faq("en", _faq())
    assert check.ok and check.problems == ()
    assert check.book.match("when am I charged").entry.id == "billing"


def test_malformed_yaml_and_broken_references_are_refused() -> None:
    """YAML that does not parse, or a follow-up to nothing, is an error naming the problem."""
    assert _found("entries: [oops", Severity.ERROR) == ["faq"]
    broken = check_faq("en", _faq(follow_ups=["ghost"]))
    assert not broken.ok and "'ghost' is neither an entry nor an action" in broken.errors[0].message


def test_an_answer_asking_to_reply_stop_is_refused() -> None:
    """An answer telling the customer to send STOP (or CANCEL…) is an error."""
    assert _found(_faq(answer="Reply CANCEL to cancel your plan."), Severity.ERROR) == ["forbidden"]
    assert _found(_faq(answer="Say 'cancel my subscription' to cancel."), Severity.ERROR) == []


def _whatsapp_warnings(text: str) -> list[str]:
    return [p.message for p in check_faq("en", text).problems if p.rule == "whatsapp"]


def test_whatsapp_button_limits_are_warned() -> None:
    """Choices that do not fit buttons still work, as a list or a numbered menu, but are flagged
    where they are offered: the menu, and the follow-ups after an answer."""
    assert _whatsapp_warnings(_faq(title="When am I charged?")) == []
    # 21-24 characters: a list. "card" offers the menu without itself, so it is flagged too.
    assert _whatsapp_warnings(_faq(title="When am I charged next?")) == [
        "the menu is shown as a list, not buttons: buttons allow 3 choices of at most 20 characters",
        "card: the follow-ups are shown as a list, not buttons: buttons allow 3 choices of at most "
        "20 characters"]
    long = _whatsapp_warnings(_faq(title="When will I be charged next?"))
    assert len(long) == 2 and all("numbered menu in the text" in m for m in long)
    assert _whatsapp_warnings(_faq(follow_ups=["card"] * 4)) == [
        "billing: the follow-ups are shown as a list, not buttons: buttons allow 3 choices of at "
        "most 20 characters"]
    assert "numbered menu" in _whatsapp_warnings(_faq(follow_ups=["card"] * 11))[0]


def test_costly_sms_answers_are_warned() -> None:
    """An emoji that forces UCS-2, or an answer over the SMS budget, is flagged; accented
    letters are not."""
    assert _found(_faq(answer="On the day you subscribed 📅"), Severity.WARNING) == ["encoding"]
    assert _found(_faq(answer="Le día que te suscribiste, sí."), Severity.WARNING) == []
    assert _found(_faq(answer="Words. " * 100), Severity.WARNING) == ["segments"]
