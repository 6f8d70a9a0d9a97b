"""`bot templates check` lints every shipped template and FAQ and every saved version in force,
and fails on any error."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main
from bot.store.database import Store
from bot.store.models import ContentVersion


def _save(url: str, clock, **row: object) -> None:
    """Store a version directly, as a rule that did not exist when it was saved would let it."""
    store = Store(url)
    store.write_sync(lambda s: s.add(ContentVersion(
        version=1, shipped_digest="", diff="", author="old@example.com", created_at=clock.now(),
        **row)))
    store.close()


def _check(url: str, *args: str):
    return CliRunner().invoke(main, ["templates", "check", *args], env={"DATABASE_URL": url})


def test_shipped_files_pass(database_url) -> None:
    """The shipped templates and FAQs have no errors; warnings are counted, and listed on request."""
    result = _check(database_url)
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output and "warning " not in result.output
    listed = _check(database_url, "--warnings")
    assert "warning faq.greeting pt_BR sms (shipped file): encoding" in listed.output


def test_a_saved_version_breaking_a_rule_fails_the_check(database_url, clock) -> None:
    """A saved template asking customers to reply STOP, or a broken FAQ, fails the check and is
    named with its version."""
    _save(database_url, clock, kind="template", key="faq.greeting", locale="es", channel="sms",
          source="Responde STOP para salir.")
    result = _check(database_url)
    assert result.exit_code == 1
    assert "error   faq.greeting es sms (version 1): forbidden: “Responde STOP” asks the customer" \
        in result.output
    assert "1 error," in result.output


def test_a_broken_faq_version_and_an_orphan_version_are_reported(database_url, clock) -> None:
    """An FAQ version that no longer parses is an error; a version of a message that no longer
    exists is a warning."""
    _save(database_url, clock, kind="faq", key="faq", locale="en", channel="",
          source="entries: []")
    _save(database_url, clock, kind="template", key="faq.retired", locale="en", channel="sms",
          source="Gone.")
    result = _check(database_url, "--warnings")
    assert result.exit_code == 1
    assert "error   FAQ en (version 1): faq: FAQ: missing 'entries'" in result.output
    assert "warning faq.retired (en, sms): variables: a saved version of a message that no " \
        "longer exists" in result.output


def test_without_a_database_only_the_shipped_files_are_checked(tmp_path) -> None:
    """A checkout without a database file still checks the shipped files, and creates none."""
    path = tmp_path / "none.db"
    result = _check(f"sqlite:///{path}")
    assert result.exit_code == 0 and "checking the shipped files only" in result.output
    assert not path.exists()
