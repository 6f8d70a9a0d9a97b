"""The template linter: every rule refuses a text that breaks it and passes one that keeps it."""

from __future__ import annotations

from io import BytesIO

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from bot import render as render_module
from bot.i18n import shipped_locales
from bot.keywords import forbidden_reply_instructions
from bot.message_specs import MessageSpec, load_message_specs
from bot.messages import Channel
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
