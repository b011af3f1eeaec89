"""Alembic, as every service runs it: programmatic configuration, migrations on the asyncpg
engine, and an advisory lock so that two pods migrating at once wait for each other."""

from __future__ import annotations

import asyncio

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from cienty_kit.database import create_engine


def alembic_config(script_location: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("database_url", database_url.replace("%", "%%"))
    return config


def upgrade(script_location: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, database_url), revision)


def downgrade(script_location: str, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(script_location, database_url), revision)


def run_migrations(metadata: MetaData, *, lock_key: int, version_table: str) -> None:
    """The body of a service's `env.py`."""
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run against a database")

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            compare_type=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            context.run_migrations()

    async def run_async() -> None:
        engine = create_engine(context.config.get_main_option("database_url") or "", pool_size=1)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(run_async())
