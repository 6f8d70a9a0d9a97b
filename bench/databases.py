"""Throw-away PostgreSQL databases for the benchmarks (never the one they are given)."""

from __future__ import annotations

import secrets

import psycopg


def fresh_database(admin_url: str) -> str:
    """Create an empty database next to ``admin_url``'s; returns its URL."""
    name = f"bot_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by fresh_database."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
