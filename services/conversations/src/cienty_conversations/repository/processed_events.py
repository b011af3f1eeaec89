"""Keys of events already acted on, so a redelivered event has no second effect."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert

from cienty_conversations.repository.tables import ProcessedEventRow
from cienty_kit.database import Session


class ProcessedEvents:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def claim(self, key: str) -> bool:
        """True the first time `key` is claimed (in a transaction that commits)."""
        inserted = await self._session.scalar(
            insert(ProcessedEventRow)
            .values(event_key=key)
            .on_conflict_do_nothing()
            .returning(ProcessedEventRow.event_key)
        )
        return inserted is not None

    async def forget_older_than(self, age: timedelta) -> int:
        result = await self._session.execute(
            delete(ProcessedEventRow).where(ProcessedEventRow.processed_at < func.now() - age)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
