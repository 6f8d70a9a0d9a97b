"""The template linter: every rule refuses a text that breaks it and passes one that keeps it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from bot import render as render_module
from bot.i18n import shipped_locales
from bot.keywords import forbidden_reply_instructions
from bot.message_specs import MessageSpec, load_message_specs
from bot.messages import Channel, Say
from bot.render import Renderer
from bot.template_lint import (
    DEFAULT_MAX_SEGMENTS,
    MAX_WHATSAPP_BODY,
    Severity,
    check_template,
    opt_out_words_in,
)

renderer = Renderer(shipped_locales(), "en")
PLAIN = MessageSpec("x.plain", "A message.", {"name": "Ana"})
DUNNING = MessageSpec("x.dunning", "A payment reminder.",
                      {"pay_url": "https://pay.example.com/p/abc", "amount": "$19.00"},
                      proactive=True, must_include=("pay_url",), max_segments=2)
PAUSED = MessageSpec("x.paused", "Paused, maybe without an end date.",
                     {"resume_on": date(2026, 5, 8), "opens_at": "Mon 9:00 AM",
                      "price": "9.00", "seen": datetime(2026, 5, 8, 9, tzinfo=UTC)},
                     nullable=("resume_on", "opens_at", "price", "seen"))


def rules(source: str, spec: MessageSpec = PLAIN, channel: Channel = Channel.SMS,
          locale: str = "en", severity: Severity = Severity.ERROR) -> list[str]:
    check = check_template(source, spec, channel, locale, renderer)
    return [p.rule for p in check.problems if p.severity is severity]


def test_a_plain_text_with_declared_variables_passes() -> None:
    """A text using only declared variables renders with the samples and has no problem."""
    check = check_template("Hi {{ name }}, this is {{ brand }}.", PLAIN, Channel.SMS, "en",
                           renderer)
    assert check.ok and check.problems == ()
    assert check.text == "Hi Ana, this is Support."
    assert (check.cost.encoding, check.cost.segments) == ("GSM-7", 1)


def test_syntax_errors_are_refused_with_the_line() -> None:
    """An unclosed tag is a syntax error that names its line; fixed, it passes."""
    check = check_template("Hi\n{% if name %}{{ name }}", PLAIN, Channel.SMS, "en", renderer)
    assert [p.rule for p in check.errors] == ["syntax"]
    assert "line 2" in check.errors[0].message
    assert rules("Hi\n{% if name %}{{ name }}{% endif %}") == []


def test_including_other_templates_is_refused() -> None:
    """A message cannot pull in other templates."""
    assert rules('{% include "common/help.txt" %}') == ["syntax"]
    assert rules('{% import "common/help.txt" as h %}Hi') == ["syntax"]
    assert rules("{% set greeting = 'Hi' %}{{ greeting }} {{ name }}") == []


def test_only_declared_variables_may_be_used() -> None:
    """An undeclared variable is refused and named; brand, channel and locale are always there."""
    check = check_template("Hi {{ first_name }}", PLAIN, Channel.SMS, "en", renderer)
    assert [p.rule for p in check.errors] == ["variables"]
    assert "first_name" in check.errors[0].message
    assert rules("{{ brand }} on {{ channel }} in {{ locale }}: hi {{ name }}") == []


def test_the_sandbox_refuses_unsafe_access() -> None:
    """Reaching into Python internals fails in the sandbox and is reported, not raised."""
    assert rules("{{ name.__class__.__mro__ }}") == ["render"]
    assert rules("{{ name.upper() }}") == []


@pytest.mark.parametrize(("joined", "apart", "where"), [
    ("{% trans %}Thanks, {{ name }}.{% endtrans %}\n{% trans %}Reply HELP for help.{% endtrans %}",
     "{% trans %}Thanks, {{ name }}.{% endtrans %}\n\n{% trans %}Reply HELP for help.{% endtrans %}",
     "Ana.Reply"),
    ("Pago recibido.¡Gracias, {{ name }}!", "Pago recibido. ¡Gracias, {{ name }}!",
     "recibido.¡Gracias,"),
    ("Pronto.Obrigado por ficar, {{ name }}!", "Pronto. Obrigado por ficar, {{ name }}!",
     "Pronto.Obrigado"),
])
def test_sentences_run_together_are_refused(joined: str, apart: str, where: str) -> None:
    """Two sentences without a space or line break between them ("Ana.Reply") — what a line
    break eaten by jinja2 after a block tag gives — are refused; a blank line fixes it, and
    decimals, times and links stay fine."""
    check = check_template(joined, PLAIN, Channel.SMS, "en", renderer)
    assert [p.rule for p in check.errors] == ["layout"]
    assert check.errors[0].message.startswith(f"{where}: sentences run together")
    assert rules(apart) == []
    assert rules("Paid $9.50 at 9.30 on https://bot.example.com/Pay.Now, thanks {{ name }}.") == []


def test_an_empty_message_is_refused() -> None:
    """A template that renders nothing cannot be saved."""
    assert rules("{% if false %}Hi{% endif %}") == ["render"]
    assert rules("{% if true %}Hi{% endif %}") == []


@pytest.mark.parametrize("text", [
    "Reply STOP to end these messages.", "Text 'cancel' to cancel your plan.",
    "Send END to finish.", "Reply with QUIT to leave.", "Responde con CANCEL para anular.",
    "Responda “STOP” para sair.", "Envía STOP si no quieres más mensajes.",
])
def test_forbidden_reply_instructions_are_refused(text: str) -> None:
    """Asking the customer to send CANCEL, STOP, END or QUIT is refused in any language."""
    assert "forbidden" in rules(text)


@pytest.mark.parametrize("text", [
    "Reply UNSUBSCRIBE to stop messages.", "We will stop charging you. Don't reply. End of story.",
    "Reply to stop these messages at any time.", "Your plan ends on March 3.",
])
def test_words_that_are_not_instructions_pass(text: str) -> None:
    """'stop' and 'end' in ordinary sentences are fine; so is naming UNSUBSCRIBE."""
    assert "forbidden" not in rules(text)


def test_forbidden_words_are_found_in_branches_not_taken_and_in_quotes() -> None:
    """A forbidden instruction hidden in a branch the sample does not take is still refused,
    and so is one whose word is quoted."""
    assert "forbidden" in rules("{% if name == 'x' %}Reply STOP{% else %}Hi{% endif %}")
    assert forbidden_reply_instructions("Reply: “Stop”") == ["Reply: “Stop"]


def test_a_forbidden_instruction_in_the_locales_translation_is_refused(monkeypatch) -> None:
    """A ``{% trans %}`` text harmless in English is refused for a locale whose catalog
    translates it into an opt-out instruction, even in a branch the sample does not take."""
    catalog = Catalog(locale="es")
    catalog.add("Write to us to leave.", "Responde STOP para salir.")
    compiled = BytesIO()
    write_mo(compiled, catalog)
    monkeypatch.setattr(render_module, "load_translations",
                        lambda locale: Translations(BytesIO(compiled.getvalue())))
    spanish = Renderer(["es"], "es")
    source = ("{% if name == 'x' %}{% trans %}Write to us to leave.{% endtrans %}"
              "{% else %}Hola{% endif %}")
    check = check_template(source, PLAIN, Channel.SMS, "es", spanish)
    assert check.text == "Hola"
    assert [p.rule for p in check.errors] == ["forbidden"]
    assert "Responde STOP" in check.errors[0].message
    assert rules(source, locale="es") == []  # the shipped catalog has no such translation


def test_emoji_forcing_ucs2_is_refused_accented_letters_only_warned() -> None:
    """On SMS a symbol that forces UCS-2 is an error; the language's own letters are a
    warning; typographic quotes are made plain and cost nothing."""
    assert rules("Paid ✅ thanks {{ name }}") == ["encoding"]
    assert rules("Pagamento confirmado, obrigado {{ name }}", locale="pt_BR") == []
    letters = check_template("Não há cobrança, {{ name }}.", PLAIN, Channel.SMS, "pt_BR", renderer)
    assert letters.ok and [(p.rule, p.severity) for p in letters.problems] == [
        ("encoding", Severity.WARNING)]
    assert letters.cost.encoding == "UCS-2"
    quotes = check_template("It’s “done” — thanks", PLAIN, Channel.SMS, "en", renderer)
    assert quotes.problems == () and quotes.cost.encoding == "GSM-7"
    assert rules("Paid ✅ thanks {{ name }}", channel=Channel.WHATSAPP) == []


def test_segments_over_the_declared_budget_are_refused() -> None:
    """A dunning SMS declared at two parts may not cost three."""
    link = "Pay {{ amount }} at {{ pay_url }}. Reply UNSUBSCRIBE to stop messages."
    assert rules(link, DUNNING) == []
    assert rules(link + " " + "Thank you for staying with us. " * 10, DUNNING) == ["segments"]


def test_segments_over_the_default_budget_are_refused() -> None:
    """Without a declared budget, DEFAULT_MAX_SEGMENTS parts is the most a message may cost."""
    per_part = 153
    assert rules("a" * (per_part * DEFAULT_MAX_SEGMENTS)) == []
    assert rules("a" * (per_part * DEFAULT_MAX_SEGMENTS + 1)) == ["segments"]


def test_whatsapp_body_length_is_limited() -> None:
    """A WhatsApp body over the quick-reply limit is refused; at the limit it passes."""
    assert rules("a" * MAX_WHATSAPP_BODY, channel=Channel.WHATSAPP) == []
    assert rules("a" * (MAX_WHATSAPP_BODY + 1), channel=Channel.WHATSAPP) == ["whatsapp_length"]


def test_required_parts_must_stay() -> None:
    """A dunning message without its payment link is refused, on every channel."""
    without_link = "Your payment of {{ amount }} failed. Reply UNSUBSCRIBE to stop messages."
    assert rules(without_link, DUNNING) == ["required"]
    assert rules("Your payment of {{ amount }} failed.", DUNNING, Channel.WHATSAPP) == ["required"]
    assert rules("Pay at {{ pay_url }}", DUNNING, Channel.WHATSAPP) == []


def test_a_proactive_sms_must_keep_its_opt_out_words() -> None:
    """A proactive SMS says how to opt out (UNSUBSCRIBE or the locale's word); WhatsApp and
    replies need not."""
    assert rules("Pay at {{ pay_url }}", DUNNING) == ["required"]
    assert rules("Pay at {{ pay_url }}. Reply UNSUBSCRIBE to stop messages.", DUNNING) == []
    assert rules("Paga en {{ pay_url }}. Responde BAJA para no recibir más.", DUNNING,
                 locale="es") == []
    assert opt_out_words_in("you can unsubscribe anytime") == []
    assert rules("Hi {{ name }}") == []


def test_an_operators_full_text_and_a_shipped_trans_block_both_pass() -> None:
    """An edit holds one locale's full text without gettext; a shipped trans block renders
    through the locale's catalog."""
    spec = load_message_specs()["faq.greeting"]
    shipped = "{% trans %}Hi! I'm the {{ brand }} assistant. Ask a question or pick a topic.{% endtrans %}"
    translated = check_template(shipped, spec, Channel.SMS, "es", renderer)
    assert translated.ok and translated.text.startswith("¡Hola! Soy el asistente de Support")
    own = check_template("¡Buenas! Pregúntame lo que quieras.", spec, Channel.SMS, "es", renderer)
    assert own.ok and own.text == "¡Buenas! Pregúntame lo que quieras."


def test_every_shipped_template_passes_in_every_locale_and_channel() -> None:
    """The templates that ship pass the linter everywhere (warnings allowed)."""
    specs = load_message_specs()
    for key, spec in specs.items():
        for locale in shipped_locales():
            for channel in Channel:
                template = renderer.template(key, channel, locale)
                with open(template.filename, encoding="utf-8") as handle:
                    check = check_template(handle.read(), spec, channel, locale, renderer)
                assert check.ok, (key, locale, channel, check.errors)


def test_an_unguarded_date_of_a_value_that_may_be_empty_is_refused() -> None:
    """``day`` given nothing shows today's date: a nullable variable used without an ``if`` is
    refused, naming it; guarded, it passes (the empty branch renders too)."""
    check = check_template("Paused until {{ resume_on|day }}.", PAUSED, Channel.SMS, "en",
                           renderer)
    assert check.text == "Paused until May 8, 2026."  # the samples alone see nothing wrong
    assert [p.rule for p in check.errors] == ["empty"]
    message = check.errors[0].message
    assert message.startswith("when resume_on is empty: ")
    assert "today's date" in message and "{% if resume_on %}" in message
    for locale in ("en", "es"):
        for channel in Channel:
            assert rules("{% if resume_on %}Paused until {{ resume_on|day }}.{% else %}Paused."
                         "{% endif %}", PAUSED, channel, locale) == []
    guarded_trans = ("{% if resume_on %}{% trans day=resume_on|day %}Paused until {{ day }}."
                     "{% endtrans %}{% else %}Paused.{% endif %}")
    assert rules(guarded_trans, PAUSED) == []
    assert rules("{% trans day=resume_on|day %}Paused until {{ day }}.{% endtrans %}",
                 PAUSED) == ["empty"]


def test_other_filters_given_nothing_are_refused_with_their_reason() -> None:
    """``moment`` would show the current time and ``money`` fails to render at all."""
    moment = check_template("Seen {{ seen|moment }}", PAUSED, Channel.SMS, "en", renderer)
    assert [p.rule for p in moment.errors] == ["empty"]
    assert "when seen is empty: " in moment.errors[0].message
    assert "current time" in moment.errors[0].message
    money = check_template("Now {{ price|money('USD') }} a month", PAUSED, Channel.SMS, "en",
                           renderer)
    assert [p.rule for p in money.errors] == ["empty"]
    assert money.errors[0].message.startswith("when price is empty: ")
    assert rules("{% if seen %}Seen {{ seen|moment }}{% else %}Not seen{% endif %}",
                 PAUSED) == []
    assert rules("Now{% if price %} {{ price|money('USD') }} a month{% endif %}", PAUSED) == []


def test_printing_none_for_an_empty_value_is_refused() -> None:
    """"back {{ opens_at }}" would tell the customer "back None": refused, naming the variable;
    guarded, or with a fallback, it passes. A "None" the text itself says is no problem."""
    for source in ("Our team is back {{ opens_at }}.", "Back {{ 'at ' ~ opens_at }}.",
                   "Back {{ opens_at|string|upper }}."):
        check = check_template(source, PAUSED, Channel.WHATSAPP, "en", renderer)
        assert [p.rule for p in check.errors] == ["empty"], source
        assert check.errors[0].message.startswith("when opens_at is empty: ")
        assert "None" in check.errors[0].message and "{% if opens_at %}" in check.errors[0].message
    assert rules("Our team is back{% if opens_at %} {{ opens_at }}{% endif %}.", PAUSED) == []
    assert rules("Our team is back {{ opens_at or 'soon' }}.", PAUSED) == []
    assert rules("{% if opens_at %}Back {{ opens_at }}.{% else %}None of us is away.{% endif %}",
                 PAUSED) == []


def test_only_declared_nullable_variables_are_emptied() -> None:
    """A variable the flows always give is not checked empty: the same text passes."""
    always = MessageSpec("x.resume", "A resume day.", {"resume_on": date(2026, 5, 8)})
    assert rules("Paused until {{ resume_on|day }}.", always) == []
    assert rules("Back {{ opens_at }}", PAUSED) == ["empty"]
    # A preview checks the values it is given, as it does a yes/no it sets: None included.
    preview = check_template("Back {{ opens_at }}", PAUSED, Channel.SMS, "en", renderer,
                             {"opens_at": "Tue 9:00 AM"})
    assert preview.text == "Back Tue 9:00 AM" and preview.ok
    empty = check_template("Back {{ opens_at }}", PAUSED, Channel.SMS, "en", renderer,
                           {"opens_at": None})
    assert empty.text == "Back None" and [p.rule for p in empty.errors] == ["empty"]


def test_the_shipped_messages_that_may_be_empty_are_checked_empty() -> None:
    """Each shipped message whose flow may give a variable None declares it, and its shipped
    text reads right without it (no "None", no today's date)."""
    specs = load_message_specs()
    for key, name in [("handoff.requested", "opens_at"), ("pause.still_paused", "resume_on"),
                      ("pause.kept", "resume_on"), ("subscription.canceled", "ends_on"),
                      ("cancel.rescued", "price")]:
        spec = specs[key]
        assert name in spec.nullable, key
        template = renderer.template(key, Channel.SMS, "en")
        with open(template.filename, encoding="utf-8") as handle:
            source = handle.read()
        assert check_template(source, spec, Channel.SMS, "en", renderer).ok, key
        empty = {**spec.variables, name: None}
        text = renderer.render(Say(key, empty), Channel.SMS, "en").body
        assert "None" not in text and str(date.today().year) not in text, (key, text)
