"""Fixtures: databases (SQLite and PostgreSQL), a frozen clock, the Twilio double, the app."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import settings
from sqlalchemy import text
from sqlmodel import SQLModel

from bot import accounts
from bot.settings import Settings
from bot.store.database import build_engine
from bot.store.migrate import upgrade
from tests import fakes
from tests.twilio_double import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble

# Property tests check what happens, not how fast: on a busy 2-core machine a first example that
# loads phone-number metadata may take longer than hypothesis' 200 ms, which is no failure here
# (bench/ measures speed).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

POSTGRES_ADMIN_URL = os.environ.get("BOT_TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("BOT_TEST_REQUIRE_POSTGRES") == "1"
PUBLIC_BASE_URL = "https://bot.example.com"
_sids = itertools.count(1)


def new_sid() -> str:
    """A fresh, well-formed MessageSid."""
    return f"SM{next(_sids):032x}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated, dropped afterwards."""
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}".strip()
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"bot_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        # A fresh connection: a test may have restarted the server since.
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_tables(url: str) -> None:
    """Empty every table of a migrated database (PostgreSQL tests share one per session)."""
    engine = build_engine(url, pool_size=1)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    truncate_tables(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite database (for tests that are not about the backend)."""
    path = tmp_path / "bot.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Console tests create users and sign in hundreds of times; at the production scrypt cost
    (a quarter of a second a hash) that was over a minute of the suite. Tests marked
    ``production_scrypt`` keep it; processes the tests start (``bot serve``) always do."""
    if "production_scrypt" not in request.keywords:
        monkeypatch.setattr(accounts, "SCRYPT", {"n": 2**10, "r": 8, "p": 1})


@pytest.fixture
def clock() -> fakes.FrozenClock:
    return fakes.FrozenClock()


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[TwilioDouble, str]]:
    """The Twilio double, listening on a local port; yields it and its base URL."""
    double = TwilioDouble()
    server = TestServer(double.app())
    await server.start_server()
    try:
        yield double, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def live_settings(database_url: str, twilio_base_url: str, **overrides: object) -> Settings:
    """Settings for a service with Twilio credentials, pointed at the double."""
    settings = Settings(
        database_url=database_url, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=twilio_base_url, twilio_sms_from="+15005550006",
        twilio_whatsapp_from="whatsapp:+15005550006", public_base_url=PUBLIC_BASE_URL,
        secret_key="test-secret", api_token="test-api-token")
    return settings.with_overrides(**overrides) if overrides else settings


class BotClient:
    """Drives the app the way Twilio does: signed webhook posts."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def post_signed(self, path: str, form: dict[str, str], *,
                          signature: str | None = None) -> web.Response:
        url = self.settings.public_base_url + path
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": signature if signature is not None
                   else fakes.sign(self.settings.webhook_token, url, form)}
        return await self.client.post(path, data=fakes.encode(form), headers=headers)

    async def message(self, from_: str, body: str, *, sid: str | None = None, **extra: str):
        return await self.post_signed("/twilio/messages",
                                      fakes.twilio_form(sid or new_sid(), from_, body, **extra))


@pytest.fixture
def make_bot(aiohttp_client: Callable) -> Callable:
    """Build services and the app over them; returns (BotClient, Services)."""

    async def build(settings: Settings, *, clock: object = None, transport: object = None,
                    worker: bool = False):
        from bot.services import build_services
        from bot.web.app import create_app

        services = build_services(settings, clock=clock, transport=transport)
        client = await aiohttp_client(create_app(services, worker=worker))
        return BotClient(client, settings), services

    return build
