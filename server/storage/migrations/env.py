"""Alembic environment, driven only through ``server.storage.migrate``.

The migrate module opens the connection (async engine, advisory lock on PostgreSQL) and passes it in
``config.attributes["connection"]``; this file only binds Alembic to it. There is no alembic.ini and no
URL here, so nothing can migrate a database without the lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from server.storage.models import metadata


def run_migrations_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite can only alter most things by copying the table; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use server.storage.migrate")

run_migrations_on(context.config.attributes["connection"])
