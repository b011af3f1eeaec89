"""Small helpers shared by test suites (fixtures live in the conftest files)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from cienty_kit.database import Database, create_engine


async def truncate(url: str, base: Any) -> None:
    """Empties every table of a SQLAlchemy declarative `base` in the database at `url`."""
    database = Database(create_engine(url, pool_size=1))
    try:
        tables = ", ".join(t.name for t in base.metadata.sorted_tables)
        async with database.transaction() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await database.dispose()
