"""Operators' edits that must be refused or seen: texts that would pass a sample rendering but
break for some customer, catalogs that would break a message, an edit another process must see,
and saves that would silently replace someone else's."""

from __future__ import annotations

import re
import threading
from html import unescape
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from click.testing import CliRunner

from bot import catalogs
from bot.cli import main
from bot.content_versions import save_version
from bot.faq import FaqLibrary
from bot.faq_editor import FaqEditor, check_faq
from bot.i18n import shipped_locales
from bot.message_specs import load_message_specs
from bot.messages import Channel
from bot.render import Renderer
from bot.services import build_services
from bot.store.database import Store
from bot.template_editor import TemplateEditor
from tests.conftest import live_settings, truncate_tables
from tests.consoles import BEARER, OPERATOR, console_bot, sign_in

SMS, WHATSAPP = Channel.SMS, Channel.WHATSAPP
renderer = Renderer(shipped_locales(), "en")
editor = TemplateEditor(renderer, load_message_specs())


def _errors(key: str, source: str, channel: Channel = SMS, locale: str = "en") -> list[str]:
    return [p.rule for p in editor.check(key, locale, channel, source).errors]


# -- checks that let through what fails (or garbles) at render time --------------------------


@pytest.mark.parametrize("source", [
    "{% if again %}{{ brand|no_such_filter }}{% else %}Sorry, ask in other words.{% endif %}",
    "{% if again %}{% if brand is no_such_test %}x{% endif %}{% endif %}Sorry, ask again.",
])
def test_an_unknown_filter_or_test_is_refused_in_a_branch_the_samples_skip(source: str) -> None:
    """The sample (again: false) never takes the first branch; the customer who misses twice
    does, and jinja2 only looks filters and tests up when it gets there: a crash in production."""
    with pytest.raises(Exception, match=r"No (filter|test) named"):
        renderer.environment("en").from_string(source).render(again=True, brand="B")
    assert "syntax" in _errors("faq.unsure", source)


def test_the_other_value_of_a_yes_no_sample_is_checked_too() -> None:
    """consent.summary's sample is subscribed: true, so an edit that drops the consent link
    (must_include) from the unsubscribed branch, or breaks that branch, went through."""
    no_link = ("{% if subscribed %}{{ brand }}: you agreed to get messages here. Your data: "
               "{{ link }}. Reply UNSUBSCRIBE to stop.{% else %}{{ brand }}: you're unsubscribed "
               "here. Reply START to subscribe again.{% endif %}")
    assert "required" in _errors("consent.summary", no_link)
    broken = ("{% if at_once %}Canceled as of {{ ends_on|day }}.{% else %}Canceled; it ends on "
              "{{ ends_on|money }}.{% endif %}")  # money needs a currency: TypeError
    assert "render" in _errors("cancel.done", broken)
    # The shipped texts keep passing (both branches are fine).
    for key in ("consent.summary", "cancel.done", "faq.unsure"):
        for channel in Channel:
            for locale in editor.locales:
                assert editor.check(key, locale, channel,
                                    editor.localized(key, locale, channel)).ok, (key, locale)


# -- catalogs: what `bot locales compile` ships ----------------------------------------------

_PO = """\
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: es\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Hello %(name)s"
msgstr "Hola %(nombre)s"

msgid "Thanks"
msgstr "Gracias"
"""

_FUZZY = """\
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: es\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

#, fuzzy
msgid "Pay %(amount)s now"
msgstr "Paga ahora"

msgid "Thanks"
msgstr "Gracias"
"""


def _locales(tmp_path: Path, monkeypatch, po: str) -> Path:
    path = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text(po, encoding="utf-8")
    monkeypatch.setattr(catalogs, "LOCALES_DIR", tmp_path)
    return path.with_suffix(".mo")


def test_a_translation_whose_placeholders_differ_is_not_compiled(tmp_path, monkeypatch) -> None:
    """“Hola %(nombre)s” for “Hello %(name)s” raises KeyError when rendered; compiling used to
    log it and write the .mo anyway (and exit 0), so the service loaded it."""
    mo = _locales(tmp_path, monkeypatch, _PO)
    with pytest.raises(catalogs.CatalogError, match="nombre"):
        catalogs.compile_all()
    assert not mo.exists()
    result = CliRunner().invoke(main, ["locales", "compile"])
    assert result.exit_code == 1 and "not compiled" in result.output and "nombre" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not mo.exists()


def test_a_fuzzy_translation_is_not_compiled(tmp_path, monkeypatch) -> None:
    """A fuzzy entry (its source changed; the console calls it stale) is not shipped to
    customers — as the service's own in-memory compile of a .po already does."""
    mo = _locales(tmp_path, monkeypatch, _FUZZY)
    catalogs.compile_all()
    with mo.open("rb") as handle:
        compiled = read_mo(handle)
    assert compiled.get("Thanks").string == "Gracias"
    message = compiled.get("Pay %(amount)s now")
    assert message is None or not message.string


# -- another process's edit ------------------------------------------------------------------


@pytest.mark.postgres
def test_an_edit_committed_after_a_newer_one_is_still_seen(postgres_url, clock) -> None:
    """On PostgreSQL ids come from a sequence, not in commit order: a save that got id 1 but
    committed after a save with id 2 was never seen by a process that refreshed in between
    (the newest id had not changed), until some later save."""
    truncate_tables(postgres_url)
    services = build_services(live_settings(postgres_url, "http://127.0.0.1:1"), clock=clock)
    other = Store(postgres_url)
    slow_edit = editor.edit("faq.greeting", "en", SMS, "Hello from the slow save.")
    fast_edit = editor.edit("faq.thanks", "en", SMS, "Thanks from the fast save.")
    inserted, release = threading.Event(), threading.Event()

    def slow(session) -> None:
        save_version(session, slow_edit, author="a@x.io", now=clock.now())  # takes id 1
        inserted.set()
        release.wait(5)

    holder = threading.Thread(target=other.write_sync, args=(slow,))
    holder.start()
    try:
        assert inserted.wait(5)
        other.write_sync(lambda s: save_version(s, fast_edit, author="b@x.io", now=clock.now()))
        seen = services.store.read_sync(services.overrides.refresh)
        assert seen.template("faq.thanks", "en", "sms") is not None
        assert seen.template("faq.greeting", "en", "sms") is None  # not committed yet
    finally:
        release.set()
        holder.join(5)
    snapshot = services.store.read_sync(services.overrides.refresh)
    assert snapshot.template("faq.greeting", "en", "sms") is not None
    assert snapshot.template("faq.greeting", "en", "sms").source == "Hello from the slow save."
    other.close()
    services.store.close()


# -- two operators on one text ---------------------------------------------------------------

EDITOR = "/admin/templates/faq.greeting/es/sms"


def _base_version(html: str) -> str:
    return re.search(r'name="base_version" value="(\d+)"', html)[1]


def _textarea(html: str, name: str) -> str:
    return unescape(re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S)[1])


async def test_a_refused_save_does_not_forget_what_the_operator_started_from(make_bot, sqlite_url,
                                                                          clock) -> None:
    """Ana opens the editor (version 0); Bo saves version 1; Ana's text is refused and comes
    back to fix. The page used to come back as a plain 422 carrying version 1 as her base, so
    her fixed save silently replaced Bo's. Now she is told of Bo's version (409)."""
    bot, _services = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    page = await (await client.get(EDITOR)).text()
    assert _base_version(page) == "0"
    response = await client.put("/api/templates/faq.greeting?locale=es&channel=sms",
                                json={"source": "Hola, soy Bo."}, headers=BEARER)
    assert response.status == 200
    refused = await client.post(EDITOR, data={"source": "Responde STOP para salir.",
                                              "base_version": "0", "csrf_token": csrf})
    html = unescape(await refused.text())
    assert refused.status == 409
    assert "version 1 was saved by API token after you opened this text" in html
    assert "“Responde STOP” asks the customer" in html  # the problems are still shown
    assert _textarea(html, "source") == "Responde STOP para salir."
    # Without a race the refusal is the plain 422 it was.
    again = await client.post(EDITOR, data={"source": "Responde STOP para salir.",
                                            "base_version": "1", "csrf_token": csrf})
    assert again.status == 422 and "fix the problems below" in await again.text()


async def test_a_refused_faq_save_does_not_forget_what_the_operator_started_from(
        make_bot, sqlite_url, clock) -> None:
    """The same for the FAQ editor."""
    bot, _services = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    page = await (await client.get("/admin/faq/en")).text()
    assert _base_version(page) == "0"
    text = _textarea(page, "text")
    bo = text.replace("same day each month", "first Monday of each month")
    assert (await client.put("/api/faq/en", json={"text": bo}, headers=BEARER)).status == 200
    broken = text.replace("follow_ups: [update_card, refund, person]", "follow_ups: [ghost]")
    refused = await client.post("/admin/faq/en", data={"text": broken, "base_version": "0",
                                                       "csrf_token": csrf})
    html = unescape(await refused.text())
    assert refused.status == 409
    assert "version 1 was saved by API token after you opened this text" in html
    assert "'ghost' is neither an entry nor an action" in html


# -- characters and markup customers would see as typed --------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
def test_control_characters_are_refused_on_every_channel(channel: Channel) -> None:
    """A NUL or other control character (pasted from elsewhere) passed on WhatsApp; PostgreSQL
    cannot even store a NUL (the save was a 500)."""
    assert editor.check("faq.greeting", "en", channel, "Hi\x00 there.").errors
    assert editor.check("faq.greeting", "en", channel, "Hi\x07 there.").errors
    assert editor.check("faq.greeting", "en", channel, "Hi,\nthere.").ok


async def test_a_nul_in_a_whatsapp_edit_is_a_422_not_a_500(make_bot, database_url, clock) -> None:
    bot, _services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    response = await client.post("/admin/templates/faq.greeting/en/whatsapp",
                                 data={"source": "Hi\x00 there.", "base_version": "0",
                                       "csrf_token": csrf})
    assert response.status == 422


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("source", ["Hi, <b>welcome</b> to {{ brand }}.",
                                    "Hi,&nbsp;welcome to {{ brand }}.",
                                    'Hi, see <a href="https://x.example">our help</a>.'])
def test_html_is_refused_customers_would_read_it_as_typed(channel: Channel, source: str) -> None:
    """Neither SMS nor WhatsApp renders HTML: a tag or an entity pasted from a web page reaches
    the customer as typed."""
    assert "markup" in [p.rule for p in editor.check("faq.greeting", "en", channel,
                                                     source).errors]


def test_whatsapp_formatting_in_an_sms_is_flagged() -> None:
    """*bold* is WhatsApp's; an SMS shows the asterisks."""
    check = editor.check("faq.greeting", "en", SMS, "Hi! Ask me *anything* about {{ brand }}.")
    assert [p.rule for p in check.problems] == ["markup"]
    assert editor.check("faq.greeting", "en", WHATSAPP,
                        "Hi! Ask me *anything* about {{ brand }}.").problems == ()
    assert editor.check("faq.greeting", "en", SMS, "Costs 2 * 3 <= 6 and a <3 smile.").ok


def test_html_in_an_faq_answer_is_refused() -> None:
    """FAQ answers go out on both channels as written."""
    faqs = FaqEditor(FaqLibrary(editor.locales, "en"), editor.locales)
    for locale in editor.locales:
        assert check_faq(locale, faqs.shipped(locale)).ok, locale
    text = faqs.shipped("en").replace("same day each month", "<b>same day</b> each month")
    check = check_faq("en", text)
    assert [p.rule for p in check.errors] == ["markup"]
    assert "billing_date" in check.errors[0].message


def test_an_faq_answer_whose_sentences_run_together_is_refused() -> None:
    """"…each month.You can…" reads as a typo to every customer."""
    faqs = FaqEditor(FaqLibrary(editor.locales, "en"), editor.locales)
    text = faqs.shipped("en").replace("subscribed. Your next", "subscribed.Your next")
    assert text != faqs.shipped("en")
    check = check_faq("en", text)
    assert [p.rule for p in check.errors] == ["layout"]
