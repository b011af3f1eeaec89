"""PostgreSQL access: engine from a plain libpq URL, and one transaction per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Repositories take a Session; services only pass it along without touching SQLAlchemy.
Session = AsyncSession

_LIBPQ_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}


def async_database_url(url: str) -> URL:
    """Turns a `postgresql://` URL as RDS and libpq give it into one for the asyncpg driver.

    A socket directory (`?host=/path`) is kept; libpq's `sslmode` becomes asyncpg's `ssl`.
    """
    parsed = make_url(url)
    if parsed.drivername not in _LIBPQ_SCHEMES:
        raise ValueError(
            f"CIENTY_DATABASE_URL must be a postgresql:// URL, got {parsed.drivername}://"
        )
    query = dict(parsed.query)
    sslmode = query.pop("sslmode", None)
    if sslmode is not None and "ssl" not in query:
        query["ssl"] = sslmode
    return parsed.set(drivername="postgresql+asyncpg", query=query)


def create_engine(url: str, *, pool_size: int = 10, command_timeout: float = 30.0) -> AsyncEngine:
    # No pre-ping: it costs a round trip per checkout. A connection that dies is invalidated by
    # SQLAlchemy on its first error (the call fails with UNAVAILABLE-like INTERNAL and the
    # caller's retry, idempotent by request_id, gets a fresh one); recycling bounds their age.
    return create_async_engine(
        async_database_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"command_timeout": command_timeout},
    )


class Database:
    """Hands out sessions; each `transaction()` commits once at its end or rolls back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Reads that need no transaction skip BEGIN/COMMIT: two round trips fewer.
        self._read_sessions = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for a single read statement (each statement sees its own snapshot)."""
        async with self._read_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
