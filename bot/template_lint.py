"""Checks a message template before an operator's edit is saved, and in ``bot templates check``.

Pure: a template's source, its declaration (``bot.message_specs``), a channel and a locale in;
the sample rendering, its SMS cost and every problem out. Rules (``Problem.rule``):

- **syntax** — the source parses in the sandboxed environment; a message cannot include,
  import or extend other templates.
- **variables** — only the variables the message declares (plus ``brand``, ``channel``,
  ``locale``).
- **render** — it renders with the declared sample values (the sandbox refuses unsafe attribute
  access) and says something.
- **encoding** (SMS) — UCS-2 forced by letters (á, ç, ã, ñ…: the language needs them) is a
  warning; forced by anything else (emoji, ™, ✓…) is an error: a plain character costs nothing,
  UCS-2 shrinks every part from 153 characters to 67.
- **segments** (SMS) — more parts than the message's ``max_segments``, or than
  ``DEFAULT_MAX_SEGMENTS`` when it declares none.
- **whatsapp_length** — a WhatsApp body longer than Twilio's quick-reply content allows.
- **forbidden** — no "reply STOP / CANCEL / END / QUIT" instruction, in any shipped language:
  those words opt the customer out, and a bare CANCEL never cancels a subscription.
- **required** — every ``must_include`` value appears; a proactive SMS names an opt-out keyword
  the customer can send (UNSUBSCRIBE, BAJA, SAIR…).
- **empty** — a variable the message declares ``nullable`` (a flow may give it as None) is
  rendered None too, and every rule above applies to that rendering as well; it must not print
  "None", nor be given to ``day`` or ``moment`` (which would show today's date or the current
  time) or ``money`` (which fails): use it inside ``{% if name %}…{% endif %}``.

A yes/no sample shows one branch of the message and an empty value another, so the message is
also rendered with each boolean flipped and with each nullable variable None, one at a time.

An operator's edit holds the full text of one locale, so plain text passes; shipped files with
``{% trans %}`` blocks pass too (they render through the locale's catalog).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jinja2.meta
from jinja2 import TemplateSyntaxError, nodes
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot.keywords import (
    KEYWORDS,
    KeywordKind,
    fold,
    forbidden_reply_instructions,
    forbidden_reply_words,
)
from bot.message_specs import ALWAYS_AVAILABLE, MessageSpec
from bot.messages import Channel
from bot.render import Renderer, render_body
from bot.segments import Encoding, SmsCost, sms_cost

DEFAULT_MAX_SEGMENTS = 4
"""SMS parts a message may cost when its declaration sets no budget (612 GSM-7 / 268 UCS-2
characters): past that it is a letter, not a text."""
MAX_WHATSAPP_BODY = 1024
"""Characters in a WhatsApp body: Twilio's quick-reply content (how buttons are sent) allows
1,024, and any reply may carry buttons."""
MAX_SOURCE = 10_000
"""Characters in a template's source."""
GETTEXT_NAMES = frozenset({"_", "gettext", "ngettext", "pgettext", "npgettext"})
GIVEN_NOTHING = {
    "day": "would show today's date instead",
    "moment": "would show the current time instead",
    "money": "fails, and the message is not sent",
}
"""What the project's filters do when given None (babel formats None as now)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
"""Characters no message may hold: control characters (NUL cannot even be stored in
PostgreSQL) and lone surrogates. Tabs and line breaks are fine."""
_NONE = re.compile(r"\bnone\b", re.IGNORECASE)
"""How an empty value reads when printed ("None", or "NONE" / "none" through a filter)."""
_HTML = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|&(?:[A-Za-z]+|#[0-9]+|#x[0-9A-Fa-f]+);")
_WHATSAPP_FORMAT = re.compile(r"```|(?<!\w)([*_~])(?=\S)[^*_~\n]*?(?<=\S)\1(?!\w)")

OPT_OUT_WORDS = frozenset(
    word for words in KEYWORDS[KeywordKind.OPT_OUT].values() for word in words
) - forbidden_reply_words()
"""Opt-out keywords a message may tell the customer to send."""


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: which rule, how bad, and what to do about it."""

    rule: str
    severity: Severity
    message: str


class Findings:
    """What a checked text shares, whatever was checked: its problems, and whether any refuses
    the save (subclasses are dataclasses with a ``problems`` field)."""

    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems that refuse a save."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """Whether the text may be saved."""
        return not self.errors


class Refused(ValueError):
    """A text breaks a rule; ``check`` lists every problem."""

    def __init__(self, check: Findings) -> None:
        super().__init__("; ".join(p.message for p in check.errors))
        self.check = check


@dataclass(frozen=True)
class TemplateCheck(Findings):
    """A template checked for one locale and channel: its sample rendering and its problems."""

    text: str | None
    """The message rendered with the sample values (None when it cannot render)."""
    cost: SmsCost | None
    """What the sample costs as an SMS (SMS only)."""
    problems: tuple[Problem, ...]


def _error(rule: str, message: str) -> Problem:
    return Problem(rule, Severity.ERROR, message)


def _warning(rule: str, message: str) -> Problem:
    return Problem(rule, Severity.WARNING, message)


def opt_out_words_in(text: str) -> list[str]:
    """The opt-out keywords ``text`` names in capitals, the way a customer is told to send them."""
    return [word for word in re.findall(r"\w+", text)
            if word.isupper() and fold(word) in OPT_OUT_WORDS]


def _describe(chars: tuple[str, ...]) -> str:
    return ", ".join(f"{ch!r} ({unicodedata.name(ch, f'U+{ord(ch):04X}').lower()})"
                     for ch in chars)


def sms_problems(cost: SmsCost, budget: int) -> list[Problem]:
    """Encoding and segment findings for a text's SMS cost."""
    problems = []
    if cost.encoding is Encoding.UCS2:
        symbols = tuple(ch for ch in cost.non_gsm if not ch.isalpha())
        letters = tuple(ch for ch in cost.non_gsm if ch.isalpha())
        if symbols:
            problems.append(_error(
                "encoding", f"{_describe(symbols)} turns the SMS into UCS-2 (67 characters a "
                            "part instead of 153): use plain characters"))
        else:
            problems.append(_warning(
                "encoding", f"UCS-2 because of the letters {', '.join(letters)} (67 characters a "
                            f"part instead of 153); the language needs them"))
    if cost.segments > budget:
        problems.append(_error(
            "segments", f"costs {cost.segments} SMS parts ({cost.units} {cost.encoding} units); "
                        f"the budget is {budget}"))
    return problems


def markup_problems(text: str, channel: Channel | None) -> list[Problem]:
    """HTML (no channel renders it: customers read the tags), and on SMS (``channel`` None:
    a text sent on both) WhatsApp's *bold*, _italic_, ~strike~ and ```code```."""
    problems = []
    if html := list(dict.fromkeys(m[0] for m in _HTML.finditer(text))):
        problems.append(_error("markup", f"{', '.join(html)}: HTML reaches the customer as typed "
                                         f"(neither SMS nor WhatsApp renders it)"))
    if channel is not Channel.WHATSAPP and (
            marks := list(dict.fromkeys(m[0] for m in _WHATSAPP_FORMAT.finditer(text)))):
        problems.append(_warning("markup", f"{', '.join(marks)}: WhatsApp formatting; an SMS "
                                           f"shows the symbols as typed"))
    return problems


class _GivenNothing(Exception):
    """A filter of ours was given None while checking a rendering with an empty value."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refusing_none(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        if value is None:
            raise _GivenNothing(name)
        return original(value, *args, **kwargs)
    return checked


def _checking_environment(env: SandboxedEnvironment) -> SandboxedEnvironment:
    """``env`` with its own filters (``day``, ``money``… not jinja2's) refusing None, where they
    would print a wrong value or fail only for the customer who has none."""
    checking = env.overlay(cache_size=0)
    checking.filters = {
        name: original if name in DEFAULT_FILTERS or hasattr(original, "jinja_pass_arg")
        else _refusing_none(name, original)
        for name, original in env.filters.items()}
    return checking


def _guard_hint(emptied: tuple[str, ...]) -> str:
    return f": put it inside {{% if {emptied[0]} %}}…{{% endif %}}" if emptied else ""


def _variants(spec: MessageSpec, samples: dict[str, Any],
              given: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """The renderings to check besides the samples — (label, values, variables emptied): a
    yes/no sample shows one branch while customers get both, and a customer for whom a flow
    gives a nullable variable None gets another. Values a preview gave are left as given."""
    flipped = [(f"when {name} is {str(not value).lower()}: ", {**samples, name: not value}, ())
               for name, value in samples.items() if isinstance(value, bool) and name not in given]
    emptied = [(f"when {name} is empty: ", {**samples, name: None}, (name,))
               for name in spec.nullable if name not in given and name in samples]
    return flipped + emptied


def _none_printed(text: str) -> int:
    return len(_NONE.findall(text))


def _literal_texts(ast: nodes.Template) -> Iterator[str]:
    """Every piece of text written in the source, in every branch (trans blocks included)."""
    for node in ast.find_all((nodes.TemplateData, nodes.Const)):
        value = node.data if isinstance(node, nodes.TemplateData) else node.value
        if isinstance(value, str):
            yield value


def check_template(source: str, spec: MessageSpec, channel: Channel, locale: str,
                   renderer: Renderer, variables: Mapping[str, Any] | None = None) -> TemplateCheck:
    """Check ``source`` as message ``spec`` for ``locale`` on ``channel``; render it with the
    declared samples (``variables`` replace some of them, e.g. in a preview)."""
    if len(source) > MAX_SOURCE:
        return TemplateCheck(None, None, (_error("syntax", f"longer than {MAX_SOURCE} characters"),))
    if control := tuple(dict.fromkeys(_CONTROL.findall(source))):
        return TemplateCheck(None, None, (_error(
            "syntax", f"holds {_describe(control)}: remove it (customers cannot read it)"),))
    env = renderer.environment(locale)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as error:
        return TemplateCheck(None, None, (_error("syntax", f"line {error.lineno}: {error.message}"),))
    if any(True for _ in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport,
                                       nodes.Extends))):
        return TemplateCheck(None, None, (_error(
            "syntax", "a message cannot include, import or extend other templates"),))
    undeclared = (jinja2.meta.find_undeclared_variables(ast) - set(spec.variables)
                  - ALWAYS_AVAILABLE - GETTEXT_NAMES)
    if undeclared:
        return TemplateCheck(None, None, (_error(
            "variables", f"uses {', '.join(sorted(undeclared))}, which this message does not have "
                         f"(it has: {', '.join(sorted(set(spec.variables) | ALWAYS_AVAILABLE))})"),))
    # jinja2 looks a filter or test up only when it gets there: one in a branch the samples skip
    # would fail for the customer who takes it.
    unknown = sorted({f"filter {node.name!r}" for node in ast.find_all(nodes.Filter)
                      if node.name not in env.filters}
                     | {f"test {node.name!r}" for node in ast.find_all(nodes.Test)
                        if node.name not in env.tests})
    if unknown:
        return TemplateCheck(None, None, (_error("syntax", f"no {', '.join(unknown)} exists"),))
    try:
        template = _checking_environment(env).from_string(source)
    except Exception as error:  # a compile-time refusal (e.g. a block defined twice)
        return TemplateCheck(None, None, (_error("syntax", f"{type(error).__name__}: {error}"),))
    given = variables or {}
    samples = {**spec.variables, **given}
    # A preview may give a nullable variable None itself.
    given_empty = tuple(name for name in spec.nullable if name in given and given[name] is None)
    texts: list[tuple[str, str, tuple[str, ...]]] = []
    empty_problems = []
    for label, values, own in [("", samples, ()), *_variants(spec, samples, given)]:
        emptied = (*own, *given_empty)  # the variant's own first: it is the one to guard
        try:
            texts.append((label, render_body(template, renderer.context(channel, values), channel),
                          emptied))
        except _GivenNothing as error:
            problem = _error("empty", f"{label}“|{error.name}” is given nothing and "
                                      f"{GIVEN_NOTHING.get(error.name, 'may show anything')}"
                                      f"{_guard_hint(emptied)}")
            if not label:  # no sample rendering to show
                return TemplateCheck(None, None, (problem,))
            empty_problems.append(problem)
        except SecurityError as error:
            return TemplateCheck(None, None, (_error("render", f"{label}not allowed: {error}"),))
        except Exception as error:  # any rendering failure is the template's, and is reported as such
            return TemplateCheck(None, None, (_error(
                "render", f"{label}{type(error).__name__}: {error}"),))

    text = texts[0][1]
    translations = renderer.translations(locale)
    literals = list(_literal_texts(ast))
    written = [*literals, *(translations.gettext(piece) for piece in literals)]
    # "None" the text itself says (in any branch, or its translation) is no empty value.
    said = sum(_none_printed(piece) for piece in written)
    problems: list[Problem] = []
    for label, rendered, emptied in texts:
        found = _text_problems(rendered, spec, channel, None if label else written, emptied)
        if emptied and _none_printed(rendered) > said:
            if not label:  # a preview's own None: reported once, not again in every variant
                said = _none_printed(rendered)
            found.insert(0, _error("empty", f"the customer would read “None”"
                                            f"{_guard_hint(emptied)}"))
        for problem in found:
            if problem not in problems:
                problems.append(Problem(problem.rule, problem.severity, label + problem.message))
    problems += empty_problems
    return TemplateCheck(text, sms_cost(text) if channel is Channel.SMS else None,
                         tuple(problems))


_SENTENCE_END = re.compile(r"(?<=[^\W\d_])[.!?]+[¡¿]?(?=[^\W\d_]{2})")


def layout_problems(text: str) -> list[Problem]:
    """Sentences running into each other ("you.Reply", "recibido.¡Gracias"): a line break lost
    (jinja2 drops the one after a block tag) or a space forgotten. Links and addresses are not
    sentences."""
    joined = []
    for token in text.split():
        if "/" in token or "@" in token:
            continue
        for end in _SENTENCE_END.finditer(token):
            following = token[end.end():]
            if following[0].isupper() and following[1].islower():
                joined.append(token)
                break
    if not joined:
        return []
    return [_error("layout", f"{', '.join(dict.fromkeys(joined))}: sentences run together; put "
                             f"a space or a line break between them (after a {{% … %}} tag, a "
                             f"blank line)")]


def _text_problems(text: str, spec: MessageSpec, channel: Channel,
                   written: list[str] | None = None,
                   emptied: tuple[str, ...] = ()) -> list[Problem]:
    """What is wrong with one rendering of a message (``written``: the source's own texts, for
    forbidden instructions in branches not taken; ``emptied``: the variable rendered None)."""
    problems: list[Problem] = []
    if not text.strip():
        problems.append(_error("render", "the message is empty"))
    pieces = [text, *(written or ())]
    for phrase in dict.fromkeys(p for piece in pieces for p in forbidden_reply_instructions(piece)):
        problems.append(_error("forbidden", f"“{phrase}” asks the customer to send a word that "
                                            f"opts them out; name UNSUBSCRIBE (or the locale's "
                                            f"word) for opting out, and buttons or phrases for "
                                            f"the rest"))
    problems += markup_problems(text, channel)
    problems += layout_problems(text)
    for name in spec.must_include:
        if name not in emptied and str(spec.variables[name]) not in text:
            problems.append(_error("required", f"must include {{{{ {name} }}}}"))
    if channel is Channel.SMS:
        problems += sms_problems(sms_cost(text), spec.max_segments or DEFAULT_MAX_SEGMENTS)
        if spec.proactive and not opt_out_words_in(text):
            problems.append(_error("required", "a proactive SMS must say how to opt out (e.g. "
                                               "'Reply UNSUBSCRIBE to stop messages')"))
    elif len(text) > MAX_WHATSAPP_BODY:
        problems.append(_error("whatsapp_length", f"{len(text)} characters; WhatsApp allows "
                                                  f"{MAX_WHATSAPP_BODY}"))
    return problems
