"""Programmatic Alembic: `cienty conversations migrate` and the tests use this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

# Its own version table, so the schema can share a database with another service's.
VERSION_TABLE = "conversations_alembic_version"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "cienty_conversations:migrations")
    config.set_main_option("database_url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
