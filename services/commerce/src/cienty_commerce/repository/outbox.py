"""The transactional outbox table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from cienty_commerce.repository.tables import OutboxEventRow, table

# Only one relay publishes at a time (per database), which keeps events in commit order.
_RELAY_LOCK_KEY = 0x636F6D6D65726365  # "commerce"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    stream: str
    event_type: str
    aggregate_id: str
    payload: dict[str, Any]


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, *, stream: str, event_type: str, aggregate_id: str, payload: dict[str, Any]
    ) -> None:
        await self._session.execute(
            insert(table(OutboxEventRow)).values(
                stream=stream, event_type=event_type, aggregate_id=aggregate_id, payload=payload
            )
        )

    async def lock_relay(self) -> bool:
        """Takes the relay lock until the end of the transaction; False if another relay has it."""
        result = await self._session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _RELAY_LOCK_KEY}
        )
        return bool(result.scalar_one())

    async def pending(self, limit: int) -> list[PendingEvent]:
        rows = await self._session.execute(
            select(OutboxEventRow)
            .where(OutboxEventRow.published_at.is_(None))
            .order_by(OutboxEventRow.id)
            .limit(limit)
        )
        return [
            PendingEvent(
                id=row.id,
                stream=row.stream,
                event_type=row.event_type,
                aggregate_id=row.aggregate_id,
                payload=row.payload,
            )
            for row in rows.scalars()
        ]

    async def mark_published(self, event_ids: list[int]) -> None:
        await self._session.execute(
            update(OutboxEventRow)
            .where(OutboxEventRow.id.in_(event_ids))
            .values(published_at=func.now())
        )

    async def count_pending(self) -> int:
        result = await self._session.execute(
            select(func.count()).where(OutboxEventRow.published_at.is_(None))
        )
        return int(result.scalar_one())
