"""The operator API: templates and FAQs listed, read, previewed, saved as checked versions (422
with reasons otherwise), rolled back; edits reach live conversations; only operators may edit."""

from __future__ import annotations

import threading

from sqlalchemy import select

from bot import faq_editor, template_editor
from bot.faq import MATCH_THRESHOLD
from bot.message_specs import load_message_specs
from bot.store.models import ContentVersion, OutboxMessage
from tests.consoles import AGENT, BEARER, OPERATOR, console_bot, sign_in

GREETING = "/api/templates/faq.greeting"


async def _replies(services) -> list[str]:
    return await services.store.read(lambda s: [row.body for row in s.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id))])


async def _versions(services) -> int:
    return await services.store.read(lambda s: s.query(ContentVersion).count())


async def test_list_shows_every_message_in_every_locale_and_channel(make_bot, sqlite_url, clock):
    """Every declared message is listed with its state per locale and channel."""
    bot, _ = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    body = await (await client.get("/api/templates", headers=BEARER)).json()
    assert {t["key"] for t in body["templates"]} == set(load_message_specs())
    assert body["locales"] == ["en", "es", "pt_BR"] and body["channels"] == ["sms", "whatsapp"]
    greeting = next(t for t in body["templates"] if t["key"] == "faq.greeting")
    assert greeting["states"]["es"]["sms"] == {"origin": "shipped", "version": None,
                                               "translation": "ok", "reason": ""}
    await client.put(GREETING + "?locale=en&channel=sms", json={"source": "Hello!"},
                     headers=BEARER)
    body = await (await client.get("/api/templates", headers=BEARER)).json()
    greeting = next(t for t in body["templates"] if t["key"] == "faq.greeting")
    assert greeting["states"]["en"]["sms"]["origin"] == "edited"
    assert greeting["states"]["es"]["sms"]["translation"] == "stale"
    assert greeting["states"]["es"]["whatsapp"]["translation"] == "ok"


async def test_read_one_template_in_a_locale_and_channel(make_bot, sqlite_url, clock):
    """A template comes with the shipped file, the localized text to edit, its check and
    history; a bad locale or channel is a 400, an unknown message a 404."""
    bot, _ = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    response = await client.get(GREETING + "?locale=es&channel=sms", headers=BEARER)
    body = await response.json()
    assert response.status == 200
    assert body["origin"] == "shipped" and body["history"] == []
    assert body["source"].startswith("{% trans %}Hi! I'm the {{ brand }} assistant.")
    assert body["editable"] == "¡Hola! Soy el asistente de {{ brand }}. Haz una pregunta o elige un tema."
    assert body["check"]["ok"] and body["check"]["sms"]["encoding"] == "GSM-7"
    assert body["message"]["description"].startswith("Greets the customer")
    for query, status in (("?locale=es", 400), ("?locale=es&channel=fax", 400),
                          ("?locale=xx&channel=sms", 400)):
        response = await client.get(GREETING + query, headers=BEARER)
        assert response.status == status, query
        assert (await response.json())["error"]
    assert (await client.get("/api/templates/faq.nothing?channel=sms", headers=BEARER)).status == 404


async def test_put_refuses_with_reasons_and_saves_a_valid_text(make_bot, database_url, clock):
    """An invalid text gets 422 with every reason and saves nothing; a valid one becomes
    version 1 by the API token; the same text again saves nothing; an old base is a 409."""
    bot, services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    bad = await client.put(GREETING + "?locale=en&channel=sms",
                           json={"source": "Hi ✅ Reply STOP to leave."}, headers=BEARER)
    body = await bad.json()
    assert bad.status == 422
    assert {p["rule"] for p in body["problems"] if p["severity"] == "error"} == {"forbidden",
                                                                                 "encoding"}
    assert any("STOP" in reason for reason in body["reasons"])
    assert await _versions(services) == 0

    good = await client.put(GREETING + "?locale=en&channel=sms",
                            json={"source": "Hi! Ask {{ brand }} anything.", "base_version": 0},
                            headers=BEARER)
    body = await good.json()
    assert good.status == 200 and body["saved"] and body["version"] == 1
    assert body["history"][0]["author"] == "API token"
    assert body["check"]["text"] == "Hi! Ask Support anything."
    again = await client.put(GREETING + "?locale=en&channel=sms",
                             json={"source": "Hi! Ask {{ brand }} anything."}, headers=BEARER)
    assert (await again.json())["saved"] is False
    late = await client.put(GREETING + "?locale=en&channel=sms",
                            json={"source": "Other text.", "base_version": 0}, headers=BEARER)
    assert late.status == 409 and "version 1" in (await late.json())["error"]
    for payload in ("not json", "[1]"):
        response = await client.put(GREETING + "?locale=en&channel=sms", data=payload,
                                    headers={**BEARER, "Content-Type": "application/json"})
        assert response.status == 400
    assert (await client.put(GREETING + "?locale=en&channel=sms", json={"text": "x"},
                             headers=BEARER)).status == 400
    assert await _versions(services) == 1


async def test_preview_renders_samples_and_reports_cost(make_bot, sqlite_url, clock):
    """A preview shows the text with sample (or given) values, its encoding and segments, and
    answers 422 with the reasons when the text could not be saved."""
    bot, _ = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    url = "/api/templates/faq.answer/preview?locale=pt_BR&channel=sms"
    ok = await client.post(url, json={"source": "Resposta: {{ answer }}",
                                      "variables": {"answer": "Sim, pode pausar."}}, headers=BEARER)
    body = await ok.json()
    assert ok.status == 200
    assert body["text"] == "Resposta: Sim, pode pausar."
    assert body["sms"] == {"encoding": "GSM-7", "segments": 1, "units": 27, "non_gsm": []}
    accented = await (await client.post(url, json={"source": "Não sei: {{ answer }}"},
                                        headers=BEARER)).json()
    assert accented["sms"]["encoding"] == "UCS-2" and accented["ok"]
    assert accented["problems"][0]["severity"] == "warning"
    bad = await client.post(url, json={"source": "{{ answer }} {{ price }}"}, headers=BEARER)
    assert bad.status == 422 and "price" in (await bad.json())["reasons"][0]
    undeclared = await client.post(url, json={"source": "x", "variables": {"price": 1}},
                                   headers=BEARER)
    assert undeclared.status == 400
    in_force = await client.post("/api/templates/faq.greeting/preview",
                                 json={"locale": "es", "channel": "whatsapp"}, headers=BEARER)
    assert (await in_force.json())["text"].startswith("¡Hola! Soy el asistente de Support")


async def test_restore_through_the_api(make_bot, database_url, clock):
    """Rolling back restores an older version, then the shipped file; an unknown one is 404."""
    bot, _ = await console_bot(make_bot, database_url, clock)
    client = bot.client
    for text in ("One.", "Two."):
        await client.put(GREETING + "?locale=en&channel=whatsapp", json={"source": text},
                         headers=BEARER)
    url = "/api/templates/faq.greeting/restore?locale=en&channel=whatsapp"
    body = await (await client.post(url, json={"version": 1}, headers=BEARER)).json()
    assert (body["version"], body["source"], body["history"][0]["note"]) == (
        3, "One.", "restored version 1")
    body = await (await client.post(url, json={"version": None}, headers=BEARER)).json()
    assert body["origin"] == "shipped" and body["history"][0]["restores_shipped"]
    assert (await client.post(url, json={"version": 42}, headers=BEARER)).status == 404


async def test_checks_run_off_the_event_loop_and_outside_the_write_transaction(
        make_bot, sqlite_url, clock, monkeypatch):
    """Checking renders and parses: saving, rolling back, previewing and trying a question check
    on worker threads, never on the event loop nor on the store lane, whose write transaction
    (holding the database's write lock) only writes."""
    bot, _ = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    threads: list[str] = []

    def recorded(check):
        def record(*args, **kwargs):
            threads.append(threading.current_thread().name)
            return check(*args, **kwargs)
        return record

    monkeypatch.setattr(template_editor, "check_template", recorded(template_editor.check_template))
    monkeypatch.setattr(faq_editor, "check_faq", recorded(faq_editor.check_faq))
    url = GREETING + "?locale=en&channel=sms"
    for text in ("One.", "Two."):
        assert (await client.put(url, json={"source": text}, headers=BEARER)).status == 200
    restore = "/api/templates/faq.greeting/restore?locale=en&channel=sms"
    assert (await client.post(restore, json={"version": 1}, headers=BEARER)).status == 200
    assert (await client.post(GREETING + "/preview", json={
        "source": "Hi.", "locale": "en", "channel": "sms"}, headers=BEARER)).status == 200
    text = (await (await client.get("/api/faq/en", headers=BEARER)).json())["text"]
    draft = text.replace("same day each month", "first Monday of each month")
    assert (await client.post("/api/faq/en/try", json={"question": "when do you charge me",
                                                       "text": draft},
                              headers=BEARER)).status == 200
    assert (await client.put("/api/faq/en", json={"text": draft}, headers=BEARER)).status == 200
    assert (await client.post("/api/faq/en/restore", json={"version": 1},
                              headers=BEARER)).status == 200
    assert len(threads) >= 8
    wrong = [name for name in threads
             if name == threading.main_thread().name or name.startswith("store-lane")]
    assert wrong == []


async def test_an_edit_reaches_live_conversations_without_restart(make_bot, database_url, clock):
    """A conversation mid-FAQ gets the edited answer template on its next message, and another
    process serving the same database does too."""
    bot, services = await console_bot(make_bot, database_url, clock)
    other, _ = await make_bot(services.settings, clock=clock)  # a second process
    await bot.message("+14155550100", "hi")
    await bot.message("+14155550100", "when will I be charged?")
    saved = await bot.client.put("/api/templates/faq.answer?locale=en&channel=sms",
                                 json={"source": "From our FAQ: {{ answer }}"}, headers=BEARER)
    assert saved.status == 200
    await bot.message("+14155550100", "how do I update my card")
    await other.message("+14155550100", "can I get a refund")
    replies = await _replies(services)
    assert replies[0].startswith("Hi! I'm the Support assistant")
    assert replies[1].startswith("You're billed on the same day")
    assert replies[2].startswith("From our FAQ: You can update your card")
    assert replies[3].startswith("From our FAQ: If you were charged by mistake")


async def test_only_operators_may_use_the_api(make_bot, database_url, clock):
    """Anonymous callers get 401, agents 403; an operator's session needs the CSRF header to
    save, and saves under the operator's name."""
    bot, services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    url = GREETING + "?locale=en&channel=sms"
    assert (await client.get("/api/templates")).status == 401
    assert (await client.put(url, json={"source": "Hi."})).status == 401
    agent_csrf = await sign_in(client, AGENT)
    assert (await client.get("/api/templates")).status == 403
    assert (await client.put(url, json={"source": "Hi."},
                             headers={"X-CSRF-Token": agent_csrf})).status == 403
    assert (await client.post("/api/faq/en/try", json={"question": "hi"},
                              headers={"X-CSRF-Token": agent_csrf})).status == 403
    csrf = await sign_in(client, OPERATOR)
    assert (await client.get("/api/templates")).status == 200
    assert (await client.put(url, json={"source": "Hi."})).status == 403
    assert (await client.put(url, json={"source": "Hi."},
                             headers={"X-CSRF-Token": "guess"})).status == 403
    saved = await client.put(url, json={"source": "Hi."}, headers={"X-CSRF-Token": csrf})
    assert saved.status == 200 and (await saved.json())["history"][0]["author"] == OPERATOR
    assert await _versions(services) == 1


async def test_faq_api_saves_checked_versions_and_tries_questions(make_bot, database_url, clock):
    """The FAQ is read, tried (draft or in force), saved when valid (422 otherwise) and
    answered from at once."""
    bot, services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    listing = await (await client.get("/api/faq", headers=BEARER)).json()
    assert [(item["locale"], item["origin"]) for item in listing["locales"]] == [
        ("en", "shipped"), ("es", "shipped"), ("pt_BR", "shipped")]
    shipped = (await (await client.get("/api/faq/en", headers=BEARER)).json())["text"]
    draft = shipped.replace("same day each month", "first Monday of each month")
    tried = await (await client.post("/api/faq/en/try", json={
        "question": "when do you charge me", "text": draft}, headers=BEARER)).json()
    assert tried["match"]["id"] == "billing_date" and "first Monday" in tried["match"]["answer"]
    in_force = await (await client.post("/api/faq/en/try", json={"question": "when do you charge me"},
                                        headers=BEARER)).json()
    assert "same day each month" in in_force["match"]["answer"]
    nothing = await (await client.post("/api/faq/en/try", json={"question": "weather in Lisbon"},
                                       headers=BEARER)).json()
    assert nothing["match"] is None and not nothing["greeting"]
    assert nothing["threshold"] == MATCH_THRESHOLD

    broken = draft.replace("answer: >\n      You're billed", "answer: >\n      Reply STOP. You're billed")
    refused = await client.put("/api/faq/en", json={"text": broken}, headers=BEARER)
    assert refused.status == 422 and "billing_date" in (await refused.json())["reasons"][0]
    bad_yaml = await client.put("/api/faq/en", json={"text": "entries: [oops"}, headers=BEARER)
    assert bad_yaml.status == 422
    saved = await client.put("/api/faq/en", json={"text": draft}, headers=BEARER)
    assert saved.status == 200 and (await saved.json())["version"] == 1
    await bot.message("+14155550100", "when do you charge me")
    assert "first Monday of each month" in (await _replies(services))[-1]
    assert (await client.get("/api/faq/xx", headers=BEARER)).status == 400
    restored = await client.post("/api/faq/en/restore", json={"version": None}, headers=BEARER)
    assert (await restored.json())["origin"] == "shipped"
