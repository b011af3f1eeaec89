"""Bounded growth: deletes relayed outbox events and idempotency keys past their retention.

A `request_id` is honoured for `idempotency_retention`; a retry older than that is treated as
a new request (the same contract as Stripe's or AWS's idempotency windows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cienty_commerce.repository.housekeeping import HousekeepingRepository
from cienty_kit.database import Database
from cienty_kit.logging import get_logger
from cienty_kit.periodic import Periodic

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Swept:
    outbox_events: int
    idempotency_keys: int


class Housekeeper(Periodic):
    name = "housekeeping"

    def __init__(
        self,
        database: Database,
        *,
        outbox_retention: timedelta,
        idempotency_retention: timedelta,
        interval_seconds: float = 600.0,
    ) -> None:
        super().__init__(interval_seconds=interval_seconds)
        self._db = database
        self._outbox_retention = outbox_retention
        self._idempotency_retention = idempotency_retention

    async def sweep(self) -> Swept:
        async with self._db.transaction() as session:
            repository = HousekeepingRepository(session)
            events = await repository.delete_published_events(older_than=self._outbox_retention)
            keys = await repository.delete_idempotency_keys(older_than=self._idempotency_retention)
        if events or keys:
            log.info("housekeeping_swept", outbox_events=events, idempotency_keys=keys)
        return Swept(events, keys)

    async def tick(self) -> Swept:
        return await self.sweep()
