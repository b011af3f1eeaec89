"""Programmatic Alembic: `cienty commerce migrate` and the tests use this."""

from __future__ import annotations

from alembic.config import Config

from cienty_kit import migrations

SCRIPT_LOCATION = "cienty_commerce:migrations"


def alembic_config(database_url: str) -> Config:
    return migrations.alembic_config(SCRIPT_LOCATION, database_url)


def upgrade(database_url: str, revision: str = "head") -> None:
    migrations.upgrade(SCRIPT_LOCATION, database_url, revision)


def downgrade(database_url: str, revision: str) -> None:
    migrations.downgrade(SCRIPT_LOCATION, database_url, revision)
