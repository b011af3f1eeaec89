"""Who works which inbound partition: one lease per partition, and the live workers' registry.

A partition's lease (`keys.partition_lease(p)`) is a plain key holding its worker's token, taken
with `SET NX PX`, renewed (only by its holder, compare-and-expire) while the worker lives, and
deleted (compare-and-delete) when it stops. A worker that dies keeps it until it expires; then any
other takes it.

Workers share the partitions: each announces itself in a sorted set (`WORKERS_KEY`, member = its
token, score = when its announcement expires) and aims to hold `ceil(partitions / live workers)`
of them (capped by a maximum per worker). One replica takes every partition; when a second
starts, the first gives back what exceeds its share and the second takes it; when one dies, its
partitions expire and the others take them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from cienty_whatsapp import keys

# The live inbound workers (not in `keys`, which the gateway's owner keeps; see the report).
WORKERS_KEY = keys.INBOUND_WORKERS

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class PartitionLeases:
    def __init__(self, redis: Redis, token: str, *, lease_ms: int) -> None:
        self._redis = redis
        self.token = token
        self.lease_ms = lease_ms
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self, partitions: Iterable[int], want: int) -> list[int]:
        """Tries the partitions in order until `want` are taken; returns those taken."""
        taken: list[int] = []
        for partition in partitions:
            if len(taken) >= want:
                break
            if await self._redis.set(
                keys.partition_lease(partition), self.token, nx=True, px=self.lease_ms
            ):
                taken.append(partition)
        return taken

    async def renew(self, partitions: Iterable[int]) -> set[int]:
        """Extends the leases; returns the partitions whose lease is no longer ours."""
        held = list(partitions)
        if not held:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for partition in held:
                await self._renew(
                    keys=[keys.partition_lease(partition)],
                    args=[self.token, self.lease_ms],
                    client=pipe,
                )
            results: list[Any] = await pipe.execute()
        return {p for p, ok in zip(held, results, strict=True) if not int(ok)}

    async def release(self, partition: int) -> None:
        await self._release(keys=[keys.partition_lease(partition)], args=[self.token])

    async def announce(self, now_ms: int) -> int:
        """Refreshes this worker's announcement; returns how many workers are live."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(WORKERS_KEY, "-inf", now_ms)
            pipe.zadd(WORKERS_KEY, {self.token: now_ms + self.lease_ms})
            pipe.zcard(WORKERS_KEY)
            results: list[Any] = await pipe.execute()
        return max(1, int(results[-1]))

    async def withdraw(self) -> None:
        await self._redis.zrem(WORKERS_KEY, self.token)


def fair_share(partitions: int, live_workers: int, max_per_worker: int) -> int:
    return max(1, min(max_per_worker, math.ceil(partitions / max(1, live_workers))))
