"""The operator console at /admin: templates with coverage, the editor (refusals with reasons,
versions, rollback), the FAQ editor, flow settings with an audit trail, locales; operators only."""

from __future__ import annotations

import re
from html import unescape
from typing import ClassVar

import pytest
from pydantic import Field

from bot import config as config_module
from bot.config import ConfigSection
from bot.message_specs import load_message_specs
from bot.store.contacts import set_contact_locale
from bot.store.models import ConfigChange, ContentVersion, OutboxMessage
from tests.consoles import AGENT, BEARER, OPERATOR, console_bot, sign_in

EDITOR = "/admin/templates/faq.greeting/es/sms"


class PacingDemo(ConfigSection):
    section: ClassVar[str] = "pacing_demo"
    title: ClassVar[str] = "Pacing (demo)"
    per_second: int = Field(default=10, ge=1, le=100, description="Messages a second per sender.")
    enabled: bool = True
    lengths_months: tuple[int, ...] = (1, 2, 3)


@pytest.fixture(autouse=True)
def demo_section(monkeypatch):
    """A section declared the way flows declare theirs: the editor must show it unaided."""
    monkeypatch.setitem(config_module._SECTIONS, "pacing_demo", PacingDemo)


def _textarea(html: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, f"no textarea {name}"
    return match[1]


async def test_anonymous_visitors_and_agents_are_kept_out(make_bot, sqlite_url, clock):
    """Anonymous visitors are sent to sign in; agents get 403 on every operator page and form."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    for path in ("/admin", EDITOR, "/admin/faq/en", "/admin/settings", "/admin/locales"):
        response = await client.get(path, allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (302, f"/login?next={path}")
    assert (await client.post(EDITOR, data={"source": "x"})).status == 401
    csrf = await sign_in(client, AGENT)
    for path in ("/admin", EDITOR, "/admin/faq", "/admin/settings", "/admin/locales"):
        assert (await client.get(path)).status == 403, path
    for path, data in ((EDITOR, {"source": "Hola."}), ("/admin/faq/en", {"text": "x"}),
                       ("/admin/settings/pacing_demo", {"per_second": "5"})):
        assert (await client.post(path, data={**data, "csrf_token": csrf})).status == 403
    assert await services.store.read(lambda s: s.query(ContentVersion).count()) == 0
    assert await services.store.read(lambda s: s.query(ConfigChange).count()) == 0


async def test_overview_marks_each_template_per_locale_and_channel(make_bot, sqlite_url, clock):
    """/admin lists every message by flow; an English edit marks the other locales stale."""
    bot, _services = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    await client.put("/api/templates/faq.greeting?locale=en&channel=sms",
                     json={"source": "Hello from {{ brand }}."}, headers=BEARER)
    await sign_in(client, OPERATOR)
    html = await (await client.get("/admin")).text()
    for flow in ("common", "faq", "handoff"):
        assert f">{flow}</h2>" in html
    row = html[html.index('data-key="faq.greeting"'):]
    row = row[:row.index("</tr>")]
    cells = dict(re.findall(r'data-locale="(\w+)" data-channel="sms">(.*?)</td>', row, re.S))
    assert "edited v1" in cells["en"] and "b-ok" in cells["en"]
    assert "shipped" in cells["es"] and ">stale<" in cells["es"]
    assert "the en text was edited" in cells["es"]


async def test_editing_refuses_with_reasons_then_saves_and_rolls_back(make_bot, database_url,
                                                                       clock):
    """The editor starts from the Spanish text; a refused edit comes back with its reason and
    the text kept; a valid one is saved as version 1 and used; rollback restores the file."""
    bot, services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    page = await (await client.get(EDITOR)).text()
    assert _textarea(page, "source") == ("¡Hola! Soy el asistente de {{ brand }}. Haz una "
                                         "pregunta o elige un tema.")
    assert "Save as version 1" in page

    bad = "¡Hola! Responde STOP para salir."
    refused = await client.post(EDITOR, data={"source": bad, "base_version": "0",
                                              "csrf_token": csrf})
    html = await refused.text()
    assert refused.status == 422
    assert "Not saved" in html and "“Responde STOP” asks the customer" in html
    assert _textarea(html, "source") == bad
    assert (await client.post(EDITOR, data={"source": "Hola."})).status == 403  # no CSRF token

    saved = await client.post(EDITOR, data={"source": "¡Hola desde {{ brand }}!\r\n",
                                            "base_version": "0", "csrf_token": csrf},
                              allow_redirects=False)
    assert (saved.status, saved.headers["Location"]) == (303, EDITOR + "?saved=1")
    html = await (await client.get(saved.headers["Location"])).text()
    assert "Saved version 1." in html and OPERATOR in html and "edited: version 1 in force" in html
    late = await client.post(EDITOR, data={"source": "Otra.", "base_version": "0",
                                           "csrf_token": csrf})
    assert late.status == 409 and "Otra." in await late.text()

    await services.store.write(lambda s: set_contact_locale(s, "sms", "+14155550100", "es",
                                                           clock.now()))
    await bot.message("+14155550100", "hola")
    restored = await client.post(EDITOR + "/restore", data={"version": "", "csrf_token": csrf},
                                 allow_redirects=False)
    assert restored.status == 303 and "restored=the%20shipped%20file" in restored.headers["Location"]
    await bot.message("+14155550100", "hola")
    bodies = await services.store.read(lambda s: [r.body for r in s.query(OutboxMessage)
                                                  .order_by(OutboxMessage.id)])
    assert bodies[0].startswith("¡Hola desde Support!")
    assert bodies[1].startswith("¡Hola! Soy el asistente de Support")
    assert (await client.get("/admin/templates/faq.greeting/es/fax")).status == 404
    assert (await client.get("/admin/templates/faq.nothing/es/sms")).status == 404


async def test_the_editor_names_the_variables_that_may_be_empty(make_bot, sqlite_url, clock):
    """An operator editing "stays paused until …" learns that the date may be missing (a pause
    without an end date) before the check refuses an unguarded edit."""
    bot, _ = await console_bot(make_bot, sqlite_url, clock)
    await sign_in(bot.client, OPERATOR)
    page = unescape(await (await bot.client.get("/admin/templates/pause.kept/en/sms")).text())
    assert "May be empty for some customers: {{ resume_on }} — use it inside {% if resume_on %}" \
        in re.sub(r"<[^>]+>", "", page)
    plain = await (await bot.client.get(EDITOR)).text()
    assert 'id="may-be-empty"' not in plain


async def test_a_save_or_restore_that_changes_nothing_says_the_text_is_unchanged(
        make_bot, sqlite_url, clock):
    """Saving the text in force again, or rolling back to the text already in force, adds no
    version: the page says the text is unchanged, not that something was restored."""
    bot, services = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    await client.post(EDITOR, data={"source": "¡Hola!", "base_version": "0", "csrf_token": csrf})
    attempts = ((EDITOR, {"source": "¡Hola!", "base_version": "1"}),
                (EDITOR + "/restore", {"version": "1"}),
                ("/admin/faq/es/restore", {"version": ""}))
    for path, data in attempts:
        response = await client.post(path, data={**data, "csrf_token": csrf},
                                     allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].endswith("?unchanged=1"), path
        html = await (await client.get(response.headers["Location"])).text()
        assert "Nothing changed: the text is the one in force." in html, path
        assert "Restored" not in html, path
    assert await services.store.read(lambda s: s.query(ContentVersion).count()) == 1


async def test_faq_editor_refuses_broken_text_and_saves_a_valid_one(make_bot, database_url, clock):
    """A broken FAQ comes back with where and why; a valid one is answered from at once."""
    bot, services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    listing = await (await client.get("/admin/faq")).text()
    assert 'href="/admin/faq/pt_BR"' in listing
    page = await (await client.get("/admin/faq/en")).text()
    text = unescape(_textarea(page, "text"))
    assert "id: billing_date" in text and "Try a question" in page
    broken = text.replace("follow_ups: [update_card, refund, person]", "follow_ups: [ghost]")
    refused = await client.post("/admin/faq/en", data={"text": broken, "csrf_token": csrf})
    assert refused.status == 422 and "&#39;ghost&#39; is neither an entry nor an action" in (
        await refused.text())
    edited = text.replace("same day each month", "first Monday of each month")
    saved = await client.post("/admin/faq/en", data={"text": edited, "base_version": "0",
                                                     "csrf_token": csrf}, allow_redirects=False)
    assert (saved.status, saved.headers["Location"]) == (303, "/admin/faq/en?saved=1")
    await bot.message("+14155550100", "when will I be charged")
    body = await services.store.read(lambda s: s.query(OutboxMessage).one().body)
    assert "first Monday of each month" in body


async def test_settings_are_validated_per_field_and_audited(make_bot, database_url, clock):
    """Every registered section gets a form; a bad value is refused next to its field and kept;
    a good change is saved with who, when, before and after; an unchanged save records nothing."""
    bot, services = await console_bot(make_bot, database_url, clock)
    client = bot.client
    csrf = await sign_in(client, OPERATOR)
    page = await (await client.get("/admin/settings")).text()
    assert "Pacing (demo)" in page and "Approved WhatsApp templates" in page
    assert 'name="per_second" value="10"' in page and "Messages a second per sender." in page
    assert 'name="lengths_months" value="1, 2, 3"' in page

    refused = await client.post("/admin/settings/pacing_demo", data={
        "csrf_token": csrf, "per_second": "500", "enabled": "on", "lengths_months": "1, x"})
    html = await refused.text()
    assert refused.status == 422
    assert "less than or equal to 100" in html and "valid integer" in html
    assert 'name="per_second" value="500"' in html
    bad_json = await client.post("/admin/settings/whatsapp_templates", data={
        "csrf_token": csrf, "templates": '{"faq.greeting": '})
    assert bad_json.status == 422 and "not valid JSON" in await bad_json.text()
    assert await services.store.read(lambda s: s.query(ConfigChange).count()) == 0

    saved_at = clock.now()
    saved = await client.post("/admin/settings/pacing_demo", data={
        "csrf_token": csrf, "per_second": "20", "lengths_months": "1, 3"}, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"].startswith(
        "/admin/settings?saved=pacing_demo")
    clock.advance(minutes=1)
    same = await client.post("/admin/settings/pacing_demo", data={
        "csrf_token": csrf, "per_second": "20", "lengths_months": "1,3"}, allow_redirects=False)
    assert "unchanged=1" in same.headers["Location"]
    changes = await services.store.read(lambda s: s.query(ConfigChange).all())
    assert len(changes) == 1
    change = changes[0]
    assert (change.section, change.changed_by) == ("pacing_demo", OPERATOR)
    assert change.changed_at == saved_at
    assert change.before == {"per_second": 10, "enabled": True, "lengths_months": [1, 2, 3]}
    assert change.after == {"per_second": 20, "enabled": False, "lengths_months": [1, 3]}
    config = await services.store.read(services.config.current)
    assert config.get(PacingDemo).per_second == 20
    html = await (await client.get("/admin/settings")).text()
    audit = html[html.index('id="audit"'):]
    assert OPERATOR in audit and "per_second" in audit and "10</span> → 20" in audit
    assert (await client.post("/admin/settings/nothing", data={"csrf_token": csrf})).status == 404


async def test_locales_page_shows_coverage(make_bot, sqlite_url, clock):
    """Each locale shows its catalog, message and FAQ coverage, and how to add one."""
    bot, _services = await console_bot(make_bot, sqlite_url, clock)
    client = bot.client
    await client.put("/api/templates/faq.greeting?locale=en&channel=sms",
                     json={"source": "Hello from {{ brand }}."}, headers=BEARER)
    await sign_in(client, OPERATOR)
    html = await (await client.get("/admin/locales")).text()
    rows = dict(re.findall(r'<tr data-locale="(\w+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"en", "es", "pt_BR"}
    assert re.search(r"(\d+) of \1 strings translated", rows["es"])
    messages = 2 * len(load_message_specs())
    assert f"{messages - 1} of {messages} read right" in rows["es"] and "1 stale" in rows["es"]
    assert "1 edited" in rows["en"] and "7 entries" in rows["pt_BR"]
    assert "bot locales add" in html
