"""Saved edits are versions in the database: author, time and diff; rollback; conflicts; the
renderer and the FAQ pick them up without a restart; stale edits are marked."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from bot.content_versions import (
    Edit,
    Scope,
    UnknownVersion,
    VersionConflict,
    digest,
    history,
    save_version,
)
from bot.faq_editor import FaqEditor, FaqRefused
from bot.message_specs import load_message_specs
from bot.messages import Channel, Say
from bot.render import TEMPLATES_DIR
from bot.services import build_services
from bot.store.database import Store
from bot.store.models import ContentVersion
from bot.template_editor import TemplateEditor, TemplateRefused
from bot.template_translations import Translation
from tests.conftest import live_settings, truncate_tables

SMS, WHATSAPP = Channel.SMS, Channel.WHATSAPP


@pytest.fixture
def services(database_url, clock):
    services = build_services(live_settings(database_url, "http://127.0.0.1:1"), clock=clock)
    yield services
    services.store.close()


@pytest.fixture
def editor(services) -> TemplateEditor:
    return TemplateEditor(services.renderer, load_message_specs())


def _write(services, edit, *, author="ana@example.com", base_version=None):
    return services.store.write_sync(lambda s: save_version(
        s, edit, author=author, now=services.clock.now(), base_version=base_version))


def _save(services, editor, text, *, locale="en", channel=SMS, key="faq.greeting", note=None,
          **kwargs):
    return _write(services, editor.edit(key, locale, channel, text, note=note), **kwargs)


def _restore(services, editor, version, *, locale="en", channel=SMS, key="faq.greeting"):
    edit = services.store.read_sync(lambda s: editor.rollback(s, key, locale, channel, version))
    return _write(services, edit, author="bo@example.com")


def _render(services, key="faq.greeting", channel=SMS, locale="en") -> str:
    services.store.read_sync(services.overrides.refresh)
    return services.renderer.render(Say(key), channel, locale).body


def test_saves_are_versions_with_author_time_and_diff(services, editor, clock) -> None:
    """Each save appends a numbered version with who, when and the diff from the text before."""
    first = _save(services, editor, "Hello! Ask me anything.")
    clock.advance(minutes=5)
    second = _save(services, editor, "Hello!\nAsk me anything, {{ brand }}.", author="bo@example.com")
    assert (first.version, second.version) == (1, 2)
    view = services.store.read_sync(lambda s: editor.view(s, "faq.greeting", "en", SMS))
    assert [(v.version, v.author) for v in view.history] == [(2, "bo@example.com"),
                                                            (1, "ana@example.com")]
    assert view.history[0].created_at == clock.now()
    assert "--- shipped file" in first.diff and "-Hi! I'm the {{ brand }} assistant." in first.diff
    assert "+Hello! Ask me anything." in first.diff
    assert "--- version 1" in second.diff and "+Ask me anything, {{ brand }}." in second.diff
    assert view.status.edited.version == 2 and view.source == "Hello!\nAsk me anything, {{ brand }}."
    assert first.shipped_digest == digest(editor.localized("faq.greeting", "en", SMS))


def test_saving_the_text_in_force_adds_no_version(services, editor) -> None:
    """Saving the same text again changes nothing."""
    assert _save(services, editor, "Hello there.") is not None
    assert _save(services, editor, "Hello there.") is None
    view = services.store.read_sync(lambda s: editor.view(s, "faq.greeting", "en", SMS))
    assert len(view.history) == 1


def test_a_refused_text_is_not_saved(services, editor) -> None:
    """A text that breaks a rule raises with its problems and leaves no version behind."""
    with pytest.raises(TemplateRefused) as refused:
        _save(services, editor, "Reply STOP to leave, {{ nobody }}")
    assert [p.rule for p in refused.value.check.errors] == ["variables"]
    with pytest.raises(TemplateRefused, match="STOP"):
        _save(services, editor, "Reply STOP to leave")
    assert services.store.read_sync(lambda s: s.query(ContentVersion).count()) == 0


def test_a_save_based_on_an_old_version_is_a_conflict(services, editor) -> None:
    """Two operators open version 0; the second save is refused instead of replacing the first."""
    _save(services, editor, "First operator's text.", base_version=0)
    with pytest.raises(VersionConflict, match=r"version 1 was saved by ana@example\.com"):
        _save(services, editor, "Second operator's text.", base_version=0)
    assert _save(services, editor, "Second operator's text.", base_version=1).version == 2


def test_rollback_to_a_version_and_to_the_shipped_file(services, editor) -> None:
    """Restoring appends a copy of the old version; going back to the shipped file appends a
    version without text, and the bot speaks from the file again."""
    _save(services, editor, "Version one.")
    _save(services, editor, "Version two.")
    assert _render(services) == "Version two."
    restored = _restore(services, editor, 1)
    assert (restored.version, restored.source, restored.note) == (3, "Version one.",
                                                                  "restored version 1")
    assert _render(services) == "Version one."
    shipped = _restore(services, editor, None)
    assert (shipped.version, shipped.source) == (4, None)
    assert "+Hi! I'm the {{ brand }} assistant." in shipped.diff
    assert _render(services) == "Hi! I'm the Support assistant. Ask a question or pick a topic."
    with pytest.raises(UnknownVersion, match="no version 9"):
        _restore(services, editor, 9)


def test_rollback_checks_the_old_text_again(services, editor, clock) -> None:
    """A version saved before a rule existed is not restored once it breaks that rule."""
    services.store.write_sync(lambda s: s.add(ContentVersion(
        kind="template", key="faq.greeting", locale="en", channel="sms", version=1,
        source="Reply QUIT to leave.", shipped_digest="", diff="", author="old@example.com",
        created_at=clock.now())))
    _save(services, editor, "A fine text.")
    with pytest.raises(TemplateRefused, match="QUIT"):
        _restore(services, editor, 1)
    assert _render(services) == "A fine text."


def test_an_edit_applies_to_its_locale_and_channel_only(services, editor) -> None:
    """A Spanish SMS edit changes Spanish SMS; WhatsApp and other locales keep their text."""
    _save(services, editor, "¡Hola desde {{ brand }}!", locale="es")
    assert _render(services, locale="es") == "¡Hola desde Support!"
    assert _render(services, locale="es", channel=WHATSAPP).startswith("¡Hola! Soy el asistente")
    assert _render(services, locale="en").startswith("Hi! I'm the Support assistant")
    assert _render(services, locale="pt_BR").startswith("Oi!")


def test_the_cache_rereads_only_after_a_save_anywhere(services, editor, database_url) -> None:
    """Nothing saved: the same snapshot is kept. A save from another process is seen on the
    next refresh."""
    first = services.store.read_sync(services.overrides.refresh)
    assert services.store.read_sync(services.overrides.refresh) is first
    elsewhere = build_services(live_settings(database_url, "http://127.0.0.1:1"),
                               clock=services.clock)
    _save(elsewhere, TemplateEditor(elsewhere.renderer, load_message_specs()), "From elsewhere.")
    elsewhere.store.close()
    snapshot = services.store.read_sync(services.overrides.refresh)
    assert snapshot is not first
    assert snapshot.template("faq.greeting", "en", "sms").source == "From elsewhere."
    assert _render(services) == "From elsewhere."


def test_the_faq_is_versioned_and_picked_up(services, clock) -> None:
    """A saved FAQ answers from the next refresh on; a broken one is refused; rollback works."""
    faqs = FaqEditor(services.faq, services.renderer.locales)
    shipped = faqs.shipped("en")
    edited = shipped.replace("same day each month", "first Monday of the month")
    with pytest.raises(FaqRefused, match="ghost"):
        faqs.edit("en", shipped.replace("follow_ups: [update_card, refund, person]",
                                        "follow_ups: [ghost]"))
    saved = _write(services, faqs.edit("en", edited))
    assert saved.version == 1 and "+      You're billed on the first Monday" in saved.diff
    services.store.read_sync(services.overrides.refresh)
    answer = faqs.try_question("en", "when will I be charged?")
    assert "first Monday" in answer.match.entry.answer
    assert "first Monday" in services.faq.book("en").entries["billing_date"].answer
    _write(services, services.store.read_sync(lambda s: faqs.rollback(s, "en", None)))
    services.store.read_sync(services.overrides.refresh)
    assert "same day each month" in services.faq.book("en").entries["billing_date"].answer


def test_faq_coverage_marks_missing_entries_and_later_edits(services, clock) -> None:
    """An entry added in English only is missing in Spanish; an English edit after the
    Spanish one marks Spanish stale."""
    faqs = FaqEditor(services.faq, services.renderer.locales)
    spanish = faqs.shipped("es").replace("Te cobramos", "Cobramos")
    _write(services, faqs.edit("es", spanish))
    english = faqs.shipped("en").replace("same day each month", "first day")
    _write(services, faqs.edit("en", english))
    status = {s.locale: s for s in services.store.read_sync(faqs.overview)}
    assert status["es"].coverage.state is Translation.STALE
    assert status["pt_BR"].coverage.state is Translation.STALE
    assert status["en"].coverage.state is Translation.OK
    extra = english + ("  - id: gift\n    title: Gift cards\n    questions: [can I buy a gift card]\n"
                       "    answer: Yes, in the shop.\n")
    _write(services, faqs.edit("en", extra))
    status = {s.locale: s for s in services.store.read_sync(faqs.overview)}
    assert status["es"].coverage.state is Translation.MISSING and "gift" in status["es"].coverage.reason


def test_edits_go_stale_when_their_source_changes(services, tmp_path: Path, clock) -> None:
    """An edit is stale once the shipped text it replaced changes, and a translation is stale
    once the English text is edited after it."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates, ignore=shutil.ignore_patterns("web"))
    editor = TemplateEditor(services.renderer, load_message_specs(templates), templates)
    _save(services, editor, "¡Hola!", locale="es")

    def coverage(locale: str, channel: Channel = SMS):
        return services.store.read_sync(
            lambda s: editor.view(s, "faq.greeting", locale, channel)).status.coverage

    assert coverage("es").state is Translation.OK
    greeting = templates / "faq" / "greeting.sms.txt"
    greeting.write_text("{% trans %}Hello, new shipped text.{% endtrans %}\n")
    assert coverage("es").state is Translation.STALE
    assert "shipped text changed" in coverage("es").reason
    assert coverage("pt_BR").state is Translation.MISSING  # the new string has no translation
    _save(services, editor, "¡Hola de nuevo!", locale="es")  # reviewed against the new text
    assert coverage("es").state is Translation.OK
    _save(services, editor, "Hello, English edit.", locale="en")
    assert coverage("es").state is Translation.STALE
    assert "en text was edited" in coverage("es").reason
    assert coverage("es", WHATSAPP).state is Translation.OK  # the edit was SMS only
    _save(services, editor, "¡Hola, otra vez!", locale="es")
    assert coverage("es").state is Translation.OK


def test_scopes_describe_themselves() -> None:
    """Scope labels name what was edited."""
    assert Scope.template("faq.greeting", "es", "sms").label == "faq.greeting (es, sms)"
    assert Scope.faq("pt_BR").label == "FAQ (pt_BR)"


@pytest.mark.postgres
def test_simultaneous_saves_cannot_both_become_the_same_version(postgres_url, clock) -> None:
    """Two saves racing for one version number: the first is kept, the second fails instead of
    silently replacing it (the API and console answer 409)."""
    truncate_tables(postgres_url)
    store = Store(postgres_url)
    scope = Scope.template("faq.greeting", "en", "sms")
    inserted, release = threading.Event(), threading.Event()
    failures: list[Exception] = []

    def first(session) -> None:
        save_version(session, Edit(scope, "First.", ""), author="a@x.io", now=clock.now())
        inserted.set()
        release.wait(5)

    def second() -> None:
        try:
            store.write_sync(lambda s: save_version(s, Edit(scope, "Second.", ""),
                                                    author="b@x.io", now=clock.now()))
        except IntegrityError as error:
            failures.append(error)

    holder = threading.Thread(target=store.write_sync, args=(first,))
    holder.start()
    assert inserted.wait(5)
    racer = threading.Thread(target=second)
    racer.start()
    racer.join(0.3)
    assert racer.is_alive()  # waiting on the unique version number
    release.set()
    holder.join(5)
    racer.join(5)
    assert len(failures) == 1
    assert [(v.version, v.source) for v in store.read_sync(lambda s: history(s, scope))] == [
        (1, "First.")]
    store.close()
