"""Alembic environment: runs migrations on the asyncpg engine, one migrator at a time."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cienty_conversations.migrations.runner import VERSION_TABLE
from cienty_conversations.repository.tables import Base
from cienty_kit.database import create_engine

# Two pods running `cienty conversations migrate` at once wait for each other instead of racing.
_MIGRATION_LOCK_KEY = 0x636F6E762D6D6967  # "conv-mig"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(context.config.get_main_option("database_url") or "", pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
asyncio.run(_run_async())
