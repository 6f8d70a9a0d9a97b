"""The FAQ: content per locale, matching, validation, and live reload of an edited file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.faq import FaqFileError, FaqLibrary, load_faq, parse_faq
from bot.i18n import LOCALES_DIR
from bot.store.contacts import set_contact_locale
from bot.store.models import Conversation, OutboxMessage
from tests.conftest import live_settings

CASES = {
    "en": [("When will I be charged?", "billing_date"), ("how do i change my card", "update_card"),
           ("my card got declined", "update_card"), ("can i pasue my subscriptoin", "pause_info"),
           ("I was charged twice!!", "refund"), ("i forgot my password", "login"),
           ("upgrade", "change_plan")],
    "es": [("¿Cuándo me van a cobrar?", "billing_date"), ("quiero cambiar mi tarjeta", "update_card"),
           ("como pauso mi suscripción", "pause_info"), ("me cobraron dos veces", "refund"),
           ("olvidé mi contraseña", "login")],
    "pt_BR": [("Quando vou ser cobrado?", "billing_date"), ("como troco meu cartão", "update_card"),
              ("quero pausar a assinatura", "pause_info"), ("fui cobrado duas vezes", "refund"),
              ("esqueci minha senha", "login")],
}
NONSENSE = {"en": "what's the weather in Lisbon", "es": "receta de paella valenciana",
            "pt_BR": "quem ganhou o jogo ontem"}


@pytest.mark.parametrize("locale", sorted(CASES))
def test_each_locale_answers_its_questions(locale: str) -> None:
    """Questions phrased unlike any variant still find the right entry; nonsense finds none."""
    book = load_faq(locale)
    for question, expected in CASES[locale]:
        match = book.match(question)
        assert match is not None, question
        assert match.entry.id == expected, question
    assert book.match(NONSENSE[locale]) is None


@pytest.mark.parametrize("locale", sorted(CASES))
def test_shipped_files_fit_whatsapp(locale: str) -> None:
    """Every title fits a WhatsApp button and every entry offers at most three follow-ups."""
    book = load_faq(locale)
    assert all(len(entry.title) <= 20 for entry in book.entries.values())
    assert all(len(entry.follow_ups) <= 3 for entry in book.entries.values())
    assert set(book.entries) == set(load_faq("en").entries)


def test_greetings_are_recognized_not_matched() -> None:
    """'Hola' and 'bom dia' are greetings in their locales."""
    assert load_faq("es").is_greeting("¡Hola!")
    assert load_faq("pt_BR").is_greeting("Bom dia")
    assert not load_faq("en").is_greeting("hi, when will I be charged?")


@pytest.mark.parametrize(("data", "message"), [
    ({}, "missing 'entries'"),
    ({"entries": [{"id": "a", "title": "A", "answer": "x"}]}, "missing 'questions'"),
    ({"entries": [{"id": "a", "title": "A", "questions": ["q"], "answer": "x"}] * 2}, "duplicate id"),
    ({"entries": [{"id": "a", "title": "A", "questions": ["q"], "answer": "x",
                   "follow_ups": ["ghost"]}]}, "'ghost' is neither"),
    ({"entries": [{"id": "a", "title": "A", "questions": [True], "answer": "x"}]}, "is not text"),
])
def test_malformed_faq_is_refused_with_where_and_why(data: dict, message: str) -> None:
    """An operator's mistake names the file, the entry and the problem."""
    with pytest.raises(FaqFileError, match=message):
        parse_faq("en", data, "faq.yaml")


def test_edited_file_is_picked_up_without_restart(tmp_path: Path) -> None:
    """Changing faq.yaml changes the answers of a running library."""
    shutil.copytree(LOCALES_DIR / "en", tmp_path / "en")
    library = FaqLibrary(("en",), "en", tmp_path)
    path = tmp_path / "en" / "faq.yaml"
    assert "same day each month" in library.book("en").entries["billing_date"].answer
    path.write_text(path.read_text().replace("same day each month", "first Monday"))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert "same day each month" in library.book("en").entries["billing_date"].answer
    library.refresh()  # what the processor does at the start of every batch
    assert "first Monday" in library.book("en").entries["billing_date"].answer


@pytest.mark.parametrize(("locale", "question", "expected"), [
    ("es", "¿Cuándo me van a cobrar?", "el mismo día"),
    ("pt_BR", "Quando vou ser cobrado?", "no mesmo dia"),
])
async def test_faq_answers_in_the_contacts_locale(make_bot, database_url, twilio, clock, locale,
                                                  question, expected):
    """A contact whose locale is known gets the FAQ, and its buttons, in that language."""
    _, base = twilio
    bot, services = await make_bot(live_settings(database_url, base), clock=clock)
    await services.store.write(lambda s: set_contact_locale(s, "whatsapp", "+14155550100", locale,
                                                           clock.now()))
    await bot.message("whatsapp:+14155550100", question)
    row = await services.store.read(lambda s: s.scalars(select(OutboxMessage)).one())
    assert expected in row.body
    titles = [c["title"] for c in row.choices]
    assert titles[-1] == {"es": "Hablar con alguien", "pt_BR": "Falar com alguém"}[locale]


async def test_locale_follows_the_number_when_unknown(make_bot, sqlite_url, twilio, clock):
    """Without a known locale a Brazilian number is answered in Portuguese, a Mexican one in
    Spanish, and an unknown region in the default."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    for number in ("+5511987654321", "+525512345678", "+4915112345678"):
        await bot.message(number, "hi")
    rows = await services.store.read(lambda s: list(s.scalars(select(OutboxMessage).order_by(
        OutboxMessage.id))))
    assert rows[0].body.startswith("Oi!")
    assert rows[1].body.startswith("¡Hola!")
    assert rows[2].body.startswith("Hi!")


async def test_greeting_in_a_shipped_language_sets_the_locale(make_bot, sqlite_url, twilio, clock):
    """A US number that says 'hola' is answered in Spanish, and keeps Spanish afterwards."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await bot.message("+14155550100", "¡Hola!")
    await bot.message("+14155550100", "cuando me van a cobrar")
    await bot.message("+14155550101", "menu")  # said in several languages: no switch
    rows = await services.store.read(lambda s: list(s.scalars(select(OutboxMessage).order_by(
        OutboxMessage.id))))
    assert rows[0].body.startswith("¡Hola!")
    assert "el mismo día" in rows[1].body
    assert rows[2].body.startswith("Hi!")



@pytest.mark.parametrize(("channel_address", "text"), [
    ("whatsapp:+14155550100", "START"), ("+14155550100", "Start"), ("+14155550100", "UNSTOP"),
    ("whatsapp:+5491123456789", "COMENZAR"), ("whatsapp:+5511987654321", "Iniciar"),
])
async def test_start_from_someone_subscribed_gets_the_menu(make_bot, sqlite_url, twilio, clock,
                                                          channel_address, text):
    """START from a contact who never opted out is someone beginning (an ad said "text START"),
    not a question the bot missed: the greeting and the menu, and no miss counted."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await bot.message(channel_address, text)
    [body] = await _bodies(services)
    assert body.startswith(("Hi! I'm the", "¡Hola! Soy el", "Oi! Sou o"))
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert conversation.misunderstood == 0


async def _bodies(services) -> list[str]:
    return await services.store.read(lambda s: [row.body for row in s.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))])


async def test_thanks_gets_a_welcome_and_ok_gets_no_answer(make_bot, sqlite_url, twilio, clock):
    """After an answer, "thanks" is answered "you're welcome" and "ok", "👍🏽" or "got it" are
    let be: none is taken for a question the bot did not understand, so none (however many)
    puts the customer in a person's queue."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await bot.message("+14155550100", "when is my billing date?")
    for text in ("Thanks!", "ok", "👍🏽", "Ok, got it.", "❤️", "thank you so much 🙏"):
        await bot.message("+14155550100", text)
    bodies = await _bodies(services)
    assert len(bodies) == 3
    assert "same day each month" in bodies[0]
    assert bodies[1] == bodies[2]
    assert bodies[1].startswith("You're welcome!")
    await bot.message("+14155550100", "thanks, but can I change my plan?")
    assert "switch plans" in (await _bodies(services))[-1]


@pytest.mark.parametrize(("locale", "question"), [
    ("en", "where can I find my invoice"), ("en", "I need a receipt for my last payment"),
    ("es", "dónde encuentro mis facturas"), ("pt_BR", "preciso do recibo do pagamento"),
])
def test_invoices_and_receipts_are_answered(locale: str, question: str) -> None:
    """Where invoices and receipts are is one of the first things subscribers ask."""
    match = load_faq(locale).match(question)
    assert match is not None and match.entry.id == "invoices"


@pytest.mark.parametrize(("locale", "text", "expected"), [
    ("en", "No, thanks!", "All right."),
    ("en", "that's all, thank you", "All right."),
    ("en", "Never mind", "All right."),
    ("en", "forget it", "All right."),  # not "Forgot password"
    ("es", "No gracias", "De acuerdo."),
    ("es", "olvídalo", "De acuerdo."),
    ("pt_BR", "não, obrigada", "Tudo bem."),
])
async def test_no_thanks_closes_politely_and_queues_no_one(make_bot, sqlite_url, twilio, clock,
                                                            locale, text, expected):
    """"No thanks" after an answer is the customer saying they are done, not a question the bot
    missed: a short closing in their language, and however many, no person is asked for."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await services.store.write(lambda s: set_contact_locale(s, "sms", "+14155550100", locale,
                                                           clock.now()))
    await bot.message("+14155550100", "hi")
    for _ in range(3):
        await bot.message("+14155550100", text)
    bodies = await _bodies(services)
    assert len(bodies) == 4 and all(body.startswith(expected) for body in bodies[1:])
    conversation = await services.store.read(lambda s: s.scalars(select(Conversation)).one())
    assert (conversation.flow, conversation.misunderstood) == ("faq", 0)


@pytest.mark.parametrize(("locale", "text", "expected"), [
    ("es", "¡Muchas gracias!", "¡De nada!"),
    ("pt_BR", "obrigada", "De nada!"),
    ("es", "thanks", "¡De nada!"),
])
async def test_thanks_in_the_contacts_language(make_bot, sqlite_url, twilio, clock, locale, text,
                                               expected):
    """Thanks in the contact's language, or in the default one, is answered in theirs."""
    _, base = twilio
    bot, services = await make_bot(live_settings(sqlite_url, base), clock=clock)
    await services.store.write(lambda s: set_contact_locale(s, "sms", "+14155550100", locale,
                                                           clock.now()))
    await bot.message("+14155550100", text)
    [body] = await _bodies(services)
    assert body.startswith(expected)
