"""Publishing events to Redis Streams."""

from __future__ import annotations

import json
from collections.abc import Sequence

from redis.asyncio import Redis

from cienty_commerce.repository.outbox import PendingEvent


class EventStream:
    def __init__(self, redis: Redis, *, max_length: int) -> None:
        self._redis = redis
        self._max_length = max_length

    async def publish(self, events: Sequence[PendingEvent]) -> None:
        """XADDs the events in order, in one round trip. Raises RedisError if Redis is away.

        Delivery is at least once: consumers deduplicate on `event_id`.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(
                    event.stream,
                    {
                        "event_id": str(event.id),
                        "type": event.event_type,
                        "aggregate_id": event.aggregate_id,
                        "payload": json.dumps(event.payload, ensure_ascii=False),
                    },
                    maxlen=self._max_length,
                    approximate=True,
                )
            await pipe.execute()
