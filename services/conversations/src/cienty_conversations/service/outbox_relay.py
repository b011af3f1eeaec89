"""Relays outbox entries from PostgreSQL to Redis Streams, at least once, in commit order.

Entries are marked published only after Redis accepted them, in the transaction that read
them; while Redis is away they wait in the table. Consumers deduplicate on `message_id`
(outbound) or tolerate repeats (events).
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from cienty_conversations.repository.outbox import OutboxRepository
from cienty_conversations.service import metrics
from cienty_kit.database import Database
from cienty_kit.logging import get_logger

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        redis: Redis,
        *,
        max_length: int,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._db = database
        self._redis = redis
        self._max_length = max_length
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Asks for a relay pass now (called after a commit that wrote entries)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def relay_once(self) -> int:
        """Publishes one batch; returns how many entries went out. Raises if Redis is away."""
        async with self._db.transaction() as session:
            outbox = OutboxRepository(session)
            if not await outbox.lock_relay():
                return 0
            entries = await outbox.pending(self._batch_size)
            if entries:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for entry in entries:
                        pipe.xadd(
                            entry.stream,
                            entry.fields,  # type: ignore[arg-type]
                            maxlen=self._max_length,
                            approximate=True,
                        )
                    await pipe.execute()
                await outbox.mark_published([entry.id for entry in entries])
            backlog = await outbox.count_pending() if len(entries) == self._batch_size else 0
        metrics.OUTBOX_PUBLISHED.inc(len(entries))
        metrics.OUTBOX_PENDING.set(backlog)
        return len(entries)

    async def run(self) -> None:
        """Relays until `stop()`, backing off exponentially while Redis or PostgreSQL fail."""
        backoff = self._poll_interval
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
            except (RedisError, SQLAlchemyError, OSError) as error:
                metrics.OUTBOX_RELAY_FAILURES.inc()
                log.warning("outbox_relay_failed", error=str(error), retry_in_seconds=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._poll_interval
            if published == self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()
