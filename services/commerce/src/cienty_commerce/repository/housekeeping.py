"""Deletes of rows that have served their purpose."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from cienty_commerce.repository.tables import IdempotencyKeyRow, OutboxEventRow


class HousekeepingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def delete_published_events(self, *, older_than: timedelta) -> int:
        result = await self._session.execute(
            delete(OutboxEventRow).where(
                OutboxEventRow.published_at.is_not(None),
                OutboxEventRow.published_at < func.now() - older_than,
            )
        )
        return _count(result)

    async def delete_idempotency_keys(self, *, older_than: timedelta) -> int:
        result = await self._session.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < func.now() - older_than)
        )
        return _count(result)


def _count(result: object) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
