"""Bounded growth: deletes relayed outbox entries and old processed-event keys.

An event key is kept for `processed_events_retention`, far longer than Redis keeps a pending
entry or commerce re-publishes an event, so no redelivery outlives its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cienty_conversations.repository.outbox import OutboxRepository
from cienty_conversations.repository.processed_events import ProcessedEvents
from cienty_kit.database import Database
from cienty_kit.logging import get_logger
from cienty_kit.periodic import Periodic

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Swept:
    outbox_entries: int
    event_keys: int


class Housekeeper(Periodic):
    name = "housekeeping"

    def __init__(
        self,
        database: Database,
        *,
        outbox_retention: timedelta,
        processed_events_retention: timedelta,
        interval_seconds: float = 600.0,
    ) -> None:
        super().__init__(interval_seconds=interval_seconds)
        self._db = database
        self._outbox_retention = outbox_retention
        self._events_retention = processed_events_retention

    async def sweep(self) -> Swept:
        async with self._db.transaction() as session:
            entries = await OutboxRepository(session).delete_published(
                older_than=self._outbox_retention
            )
            keys = await ProcessedEvents(session).forget_older_than(self._events_retention)
        if entries or keys:
            log.info("housekeeping_swept", outbox_entries=entries, event_keys=keys)
        return Swept(entries, keys)

    async def tick(self) -> Swept:
        return await self.sweep()
