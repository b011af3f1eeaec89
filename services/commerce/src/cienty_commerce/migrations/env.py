"""Alembic environment of the commerce schema."""

from __future__ import annotations

from cienty_commerce.repository.tables import Base
from cienty_kit.migrations import run_migrations

# Two pods running `cienty commerce migrate` at once wait for each other instead of racing.
MIGRATION_LOCK_KEY = 0x6D696772617465  # "migrate"

run_migrations(Base.metadata, lock_key=MIGRATION_LOCK_KEY, version_table="alembic_version")
