"""Programmatic Alembic: `cienty conversations migrate` and the tests use this."""

from __future__ import annotations

from alembic.config import Config

from cienty_kit import migrations

SCRIPT_LOCATION = "cienty_conversations:migrations"
# Its own version table, so the schema can share a database with another service's.
VERSION_TABLE = "conversations_alembic_version"


def alembic_config(database_url: str) -> Config:
    return migrations.alembic_config(SCRIPT_LOCATION, database_url)


def upgrade(database_url: str, revision: str = "head") -> None:
    migrations.upgrade(SCRIPT_LOCATION, database_url, revision)


def downgrade(database_url: str, revision: str) -> None:
    migrations.downgrade(SCRIPT_LOCATION, database_url, revision)
