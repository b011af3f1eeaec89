"""Bounded growth: deletes relayed outbox events and idempotency keys past their retention.

A `request_id` is honoured for `idempotency_retention`; a retry older than that is treated as
a new request (the same contract as Stripe's or AWS's idempotency windows).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from cienty_commerce.repository.housekeeping import HousekeepingRepository
from cienty_kit.database import Database
from cienty_kit.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Swept:
    outbox_events: int
    idempotency_keys: int


class Housekeeper:
    def __init__(
        self,
        database: Database,
        *,
        outbox_retention: timedelta,
        idempotency_retention: timedelta,
        interval_seconds: float = 600.0,
    ) -> None:
        self._db = database
        self._outbox_retention = outbox_retention
        self._idempotency_retention = idempotency_retention
        self._interval = interval_seconds
        self._stopping = asyncio.Event()

    async def sweep(self) -> Swept:
        async with self._db.transaction() as session:
            repository = HousekeepingRepository(session)
            events = await repository.delete_published_events(older_than=self._outbox_retention)
            keys = await repository.delete_idempotency_keys(older_than=self._idempotency_retention)
        if events or keys:
            log.info("housekeeping_swept", outbox_events=events, idempotency_keys=keys)
        return Swept(events, keys)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except (SQLAlchemyError, OSError) as error:
                log.warning("housekeeping_failed", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
