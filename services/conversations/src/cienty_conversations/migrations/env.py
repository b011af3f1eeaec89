"""Alembic environment of the conversations schema."""

from __future__ import annotations

from cienty_conversations.migrations.runner import VERSION_TABLE
from cienty_conversations.repository.tables import Base
from cienty_kit.migrations import run_migrations

# Two pods running `cienty conversations migrate` at once wait for each other instead of racing.
MIGRATION_LOCK_KEY = 0x636F6E762D6D6967  # "conv-mig"

run_migrations(Base.metadata, lock_key=MIGRATION_LOCK_KEY, version_table=VERSION_TABLE)
