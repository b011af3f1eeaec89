"""Relays outbox events from PostgreSQL to Redis Streams, at least once, in commit order.

An event is marked published only after Redis accepted it, in the same transaction that read
it; if Redis (or the relay) is down, events wait in the table and go out once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from cienty_commerce.repository.event_stream import EventStream
from cienty_commerce.repository.outbox import OutboxRepository
from cienty_commerce.service import metrics
from cienty_kit.database import Database
from cienty_kit.logging import get_logger

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        stream: EventStream,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        coalesce_seconds: float = 0.05,
    ) -> None:
        self._db = database
        self._stream = stream
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._coalesce = coalesce_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Asks for a relay pass now (called after a commit that wrote events)."""
        self._wake.set()

    def stop(self) -> None:
        """Asks `run` to return after the pass in progress (never mid-transaction)."""
        self._stopping.set()
        self._wake.set()

    async def relay_once(self) -> int:
        """Publishes one batch; returns how many events went out. Raises if Redis is away."""
        async with self._db.transaction() as session:
            outbox = OutboxRepository(session)
            if not await outbox.lock_relay():
                return 0
            events = await outbox.pending(self._batch_size)
            if not events:
                metrics.OUTBOX_PENDING.set(0)
                return 0
            await self._stream.publish(events)
            await outbox.mark_published([event.id for event in events])
            backlog = await outbox.count_pending() if len(events) == self._batch_size else 0
        metrics.OUTBOX_PUBLISHED.inc(len(events))
        metrics.OUTBOX_PENDING.set(backlog)
        return len(events)

    async def run(self) -> None:
        """Relays until `stop()`, backing off exponentially while Redis or PostgreSQL fail."""
        backoff = self._poll_interval
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
            except (RedisError, SQLAlchemyError, OSError) as error:
                metrics.OUTBOX_RELAY_FAILURES.inc()
                await self._sample_backlog()
                log.warning("outbox_relay_failed", error=str(error), retry_in_seconds=backoff)
                with contextlib.suppress(TimeoutError):  # wake-ups are ignored while failing
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._poll_interval
            if published == self._batch_size:
                continue  # more are probably waiting
            await self._sleep(self._poll_interval)

    async def _sample_backlog(self) -> None:
        """Keeps the backlog gauge true while publishing fails (alerts watch it grow)."""
        try:
            async with self._db.transaction() as session:
                metrics.OUTBOX_PENDING.set(await OutboxRepository(session).count_pending())
        except (SQLAlchemyError, OSError):
            pass  # the database is away too; the failure counter already tells

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            return
        # Woken by a commit: wait a moment so that one pass carries the commits that follow
        # (under load, one relay transaction per order would cost more than the orders).
        if not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._coalesce)
        self._wake.clear()
