"""The transactional outbox: stream entries committed with the change they announce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, text, update

from cienty_conversations.repository.tables import OutboxRow
from cienty_kit.database import Session

# Only one relay publishes at a time (per database), which keeps entries in commit order.
_RELAY_LOCK_KEY = 0x636F6E762D6F7574  # "conv-out"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    id: int
    stream: str
    fields: dict[str, str]


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, stream: str, fields: dict[str, str]) -> None:
        await self._session.execute(insert(OutboxRow).values(stream=stream, fields=fields))

    async def lock_relay(self) -> bool:
        """Takes the relay lock until the end of the transaction; False if another relay has it."""
        result = await self._session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _RELAY_LOCK_KEY}
        )
        return bool(result.scalar_one())

    async def pending(self, limit: int) -> list[PendingEntry]:
        rows = await self._session.scalars(
            select(OutboxRow)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return [PendingEntry(row.id, row.stream, row.fields) for row in rows]

    async def mark_published(self, ids: list[int]) -> None:
        await self._session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(ids)).values(published_at=func.now())
        )

    async def count_pending(self) -> int:
        result = await self._session.execute(
            select(func.count()).where(OutboxRow.published_at.is_(None))
        )
        return int(result.scalar_one())

    async def delete_published(self, *, older_than: timedelta) -> int:
        result = await self._session.execute(
            delete(OutboxRow).where(OutboxRow.published_at < func.now() - older_than)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
