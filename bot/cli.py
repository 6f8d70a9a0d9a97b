"""The ``bot`` command: serve, worker, chat, db, users, locales, templates."""

from __future__ import annotations

import asyncio
import gc
import secrets
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from aiohttp import web

from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from bot.content_versions import OverrideSnapshot


def load_settings() -> Settings:
    """Settings from the environment, or a readable error and exit."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def prepare(settings: Settings) -> None:
    """Logging, and the schema brought up to date (safe with several processes at once)."""
    from bot.logs import configure_logging
    from bot.store.migrate import upgrade

    configure_logging(settings.log_level)
    upgrade(settings.database_url)


def freeze_startup_heap() -> None:
    """Keep what start-up built (modules, templates, FAQ books, the ORM's mappings: some 180,000
    objects) out of the garbage collector's full passes: each pass over them paused every request
    for about 100 ms while serving."""
    gc.collect()
    gc.freeze()


@click.group()
def main() -> None:
    """Subscriber support bot: WhatsApp and SMS support for subscription businesses."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Web only; run the sender with `bot worker`.")
def serve(host: str, port: int, no_worker: bool) -> None:
    """Run the web server (and, unless --no-worker, the sender and scheduler)."""
    from bot.services import build_services
    from bot.store.database import describe_url
    from bot.web.app import create_app

    settings = load_settings().served_at(host, port)
    prepare(settings)
    app = create_app(build_services(settings), worker=not no_worker)

    async def started(_: web.Application) -> None:
        freeze_startup_heap()

    app.on_startup.append(started)  # after the services' own start-up, which loads content
    click.echo(f"database: {describe_url(settings.database_url)}")
    if settings.sandbox:
        click.echo("SANDBOX MODE (no Twilio credentials): replies are printed, not sent.")
        click.echo(f"  chat with the bot: http://{host}:{port}/")
        click.echo(f"  webhook signing token and API bearer token: {settings.sandbox_token}")
    web.run_app(app, host=host, port=port, access_log=None, print=None,
                handle_signals=True)


async def _run_until_signalled(run: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, run.set)
    await run.wait()


@main.command()
def worker() -> None:
    """Run only the outbox sender and the scheduler (the Procfile's worker process)."""
    from bot.services import build_services

    settings = load_settings()
    prepare(settings)

    async def run() -> None:
        services = build_services(settings)
        await services.start(inbound=False, worker=True)
        freeze_startup_heap()
        try:
            await _run_until_signalled(asyncio.Event())
        finally:
            await services.stop()

    asyncio.run(run())


@main.command()
@click.option("--channel", type=click.Choice(["sms", "whatsapp"]), default="sms",
              show_default=True)
@click.option("--phone", default="+15555550100", show_default=True, help="Your number, E.164.")
@click.option("--locale", default=None, help="Speak this locale (en, es, pt_BR…).")
def chat(channel: str, phone: str, locale: str | None) -> None:
    """Talk to the bot in the terminal: the same engine, no Twilio."""
    from bot.addresses import InvalidAddress, normalize_e164
    from bot.channels.console import ConsoleTransport
    from bot.messages import Channel, Inbound
    from bot.pipeline import ProcessingFailed
    from bot.services import build_services
    from bot.store.contacts import set_contact_locale

    settings = load_settings().with_overrides(log_level="WARNING")
    prepare(settings)
    try:
        address = normalize_e164(phone)
    except InvalidAddress as error:
        raise click.ClickException(str(error)) from None

    async def run() -> None:
        services = build_services(settings, transport=ConsoleTransport(sys.stdout, chat=True))
        await services.start(inbound=True, worker=False)
        try:
            if locale:
                await services.store.write(lambda session: set_contact_locale(
                    session, channel, address, locale, services.clock.now()))
            click.echo(f"You are {address} on {channel}. Say hi; Ctrl-D to leave.")
            loop = asyncio.get_running_loop()
            while True:
                try:
                    text = await loop.run_in_executor(None, input, "you: ")
                except EOFError:
                    break
                if not text.strip():
                    continue
                try:
                    await services.pipeline.submit(Inbound(
                        channel=Channel(channel), address=address, text=text,
                        provider_id="SMCHAT" + secrets.token_hex(14)))
                except ProcessingFailed:
                    click.echo("(that message could not be stored; the log says why)")
                await services.sender.drain()
        finally:
            await services.stop()

    asyncio.run(run())


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration."""
    from bot.store.database import describe_url
    from bot.store.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    click.echo(f"schema up to date: {describe_url(settings.database_url)}")


@main.group()
def users() -> None:
    """Console users (agents and operators)."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["agent", "operator"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given.")
def users_add(email: str, role: str, password: str) -> None:
    """Create a console user."""
    from bot.accounts import AccountError, create_user
    from bot.clock import SystemClock
    from bot.store.database import Store
    from bot.store.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    store = Store(settings.database_url)
    try:
        user = store.write_sync(
            lambda session: create_user(session, email, role, password, SystemClock().now()))
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    click.echo(f"created {user.role} {user.email}")


@main.group()
def locales() -> None:
    """Message catalogs (babel): extract, update, compile, add."""


@locales.command("extract")
def locales_extract() -> None:
    """Collect translatable strings into locales/messages.pot."""
    from bot import catalogs

    catalogs.extract()


@locales.command("update")
def locales_update() -> None:
    """Extract, then merge new strings into every locale's catalog."""
    from bot import catalogs

    catalogs.extract()
    catalogs.update()


@locales.command("compile")
def locales_compile() -> None:
    """Compile every catalog to .mo (nothing, when a translation would break its message)."""
    from bot import catalogs

    try:
        catalogs.compile_all()
    except catalogs.CatalogError as error:
        raise click.ClickException(str(error)) from None


@locales.command("add")
@click.argument("locale")
def locales_add(locale: str) -> None:
    """Start a new locale: a catalog and an FAQ file to translate."""
    from bot import catalogs

    try:
        catalogs.add(locale)
    except (FileExistsError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"translate locales/{locale}/LC_MESSAGES/messages.po and locales/{locale}/faq.yaml, "
               "then run `bot locales compile`")


@main.group()
def templates() -> None:
    """Message templates."""


@templates.command("check")
@click.option("--warnings", "show_warnings", is_flag=True, help="List warnings too.")
def templates_check(show_warnings: bool) -> None:
    """Lint every template × locale × channel (shipped files and the versions operators saved)
    and every FAQ; exit non-zero on any error."""
    from bot.content_versions import OverrideSnapshot
    from bot.faq import FaqLibrary
    from bot.faq_editor import FaqEditor
    from bot.i18n import shipped_locales
    from bot.message_specs import load_message_specs
    from bot.render import Renderer
    from bot.template_editor import TemplateEditor
    from bot.templates_check import check_everything

    settings = load_settings()
    locales = shipped_locales() or (settings.default_locale,)
    saved = _saved_versions(settings.database_url) or OverrideSnapshot(revision=0)
    renderer = Renderer(locales, settings.default_locale, brand=settings.brand_name)
    faqs = FaqEditor(FaqLibrary(locales, settings.default_locale), renderer.locales)
    report = check_everything(TemplateEditor(renderer, load_message_specs()), faqs, saved)
    for finding in report.findings:
        problem = finding.problem
        if problem.severity == "error" or show_warnings:
            click.echo(f"{problem.severity:<8}{finding.where}: {problem.rule}: {problem.message}")
    errors, warnings = len(report.errors), len(report.findings) - len(report.errors)
    click.echo(f"checked {report.texts} texts ({len(saved.by_scope)} saved versions in force): "
               f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    if report.errors:
        raise SystemExit(1)


def _saved_versions(url: str) -> OverrideSnapshot | None:
    """The operators' versions in force, or None when there is no database to read (a fresh
    checkout's default SQLite file, a database never migrated)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from bot.content_versions import ContentOverrides
    from bot.store.database import Store, is_sqlite, normalize_url

    database = make_url(normalize_url(url)).database
    if is_sqlite(url) and (not database or not Path(database).exists()):
        click.echo(f"no database at {database}: checking the shipped files only", err=True)
        return None
    store = Store(url)
    try:
        if not inspect(store.reader).has_table("content_version"):
            click.echo("the database has no saved versions table (bot db upgrade): checking the "
                       "shipped files only", err=True)
            return None
        return store.read_sync(ContentOverrides().refresh)
    finally:
        store.close()
