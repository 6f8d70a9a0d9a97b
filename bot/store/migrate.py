"""Alembic, wired to the service's settings: ``bot db upgrade`` and the start-up upgrade."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from bot.store.database import build_engine, normalize_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_UPGRADE_LOCK = 7_112_020_001  # advisory lock id: one upgrader at a time on PostgreSQL


def alembic_config(url: str) -> Config:
    """An alembic Config pointed at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once."""
    engine = build_engine(url, immediate=False, pool_size=1)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _UPGRADE_LOCK})
                connection.commit()
            try:
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                if postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _UPGRADE_LOCK})
                    connection.commit()
    finally:
        engine.dispose()
