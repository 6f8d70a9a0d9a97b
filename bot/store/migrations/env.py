"""Alembic environment: runs on the connection ``bot.store.migrate`` hands over, or on the URL."""

from alembic import context
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.store.database import build_engine


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _engine = build_engine(context.config.get_main_option("sqlalchemy.url"), immediate=False,
                           pool_size=1)
    with _engine.connect() as _conn:
        _run(_conn)
    _engine.dispose()
