"""Appends each POST's items to the inbound streams, each update at most once, atomically.

One Lua script does, for each item in order: `SET seen(dedupe_key) 1 NX EX ttl`, and only when
that set the key, `XADD inbound_stream(partition) * item <json>`. Redis runs a script without
interleaving other commands, and a request's items always go in one script call, so a request
is stored whole or not at all; two copies of an update (in one POST, across POSTs, or
concurrent redeliveries) give one stream entry; a chat's updates land on its partition's stream
in Meta's order.

Group commit: while one script call is in flight, the requests that arrive meanwhile wait and
then go together in the next call (each request's items still together, in one call). An idle
gateway sends each request at once; a busy one pays Redis' per-call cost once per group instead
of once per request.

Note for Redis Cluster: the script touches keys of many hash slots; it needs a single-shard
Redis (ElastiCache without cluster mode, or the embedded one).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Sequence

from redis.asyncio import Redis

from cienty_whatsapp import keys
from cienty_whatsapp.items import InboundItem

# Meta redelivers for up to 7 days: remembering an update for less would let a late
# redelivery through as new.
MIN_DEDUPE_TTL_SECONDS = 7 * 24 * 3600
# A group stops growing past this many items (a single request may exceed it: it goes alone).
MAX_GROUP_ITEMS = 2000

# KEYS: seen key, stream key, seen key, stream key, ...; ARGV[1]: TTL seconds, then one item
# JSON per pair of keys. Returns 1 per item stored, 0 per item seen before.
_APPEND = """
local ttl = tonumber(ARGV[1])
local added = {}
for n = 1, #ARGV - 1 do
  if redis.call('SET', KEYS[2 * n - 1], '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[2 * n], '*', 'item', ARGV[n + 1])
    added[n] = 1
  else
    added[n] = 0
  end
end
return added
"""


def dedupe_ttl_seconds(hours: float) -> int:
    """`CIENTY_DEDUPE_TTL_HOURS` in seconds; below Meta's 7-day redelivery window is refused."""
    seconds = math.ceil(hours * 3600)
    if seconds < MIN_DEDUPE_TTL_SECONDS:
        raise ValueError(
            f"CIENTY_DEDUPE_TTL_HOURS must be at least {MIN_DEDUPE_TTL_SECONDS // 3600} "
            "(Meta redelivers webhooks for up to 7 days)"
        )
    return seconds


_Waiting = tuple[Sequence[InboundItem], asyncio.Future[list[bool]]]


class Intake:
    def __init__(self, redis: Redis, *, partitions: int, dedupe_ttl_seconds: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be positive")
        self._partitions = partitions
        self._ttl = str(dedupe_ttl_seconds)
        self._script = redis.register_script(_APPEND)
        self._waiting: deque[_Waiting] = deque()
        self._sender: asyncio.Task[None] | None = None

    async def append(self, items: Sequence[InboundItem]) -> int:
        """Stores the items not seen before; returns how many were new."""
        return sum(await self.append_each(items))

    async def append_each(self, items: Sequence[InboundItem]) -> list[bool]:
        """Stores the items not seen before; returns, per item, whether it was new. Raises
        redis-py's errors when Redis is unreachable (nothing of these items is stored then)."""
        if not items:
            return []
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting())
        return await future

    async def _send_waiting(self) -> None:
        while self._waiting:
            group = [self._waiting.popleft()]
            count = len(group[0][0])
            while self._waiting and count + len(self._waiting[0][0]) <= MAX_GROUP_ITEMS:
                group.append(self._waiting.popleft())
                count += len(group[-1][0])
            try:
                flags = await self._call([item for items, _ in group for item in items])
            except Exception as error:  # every request of the group fails, whole
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException:  # cancelled (shutting down): nobody waits forever
                for _, future in [*group, *self._waiting]:
                    future.cancel()
                self._waiting.clear()
                raise
            start = 0
            for items, future in group:
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(flags[start : start + len(items)])
                start += len(items)

    async def _call(self, items: Sequence[InboundItem]) -> list[bool]:
        script_keys: list[str] = []
        args: list[str] = [self._ttl]
        for item in items:
            script_keys.append(keys.seen(item.dedupe_key))
            script_keys.append(keys.inbound_stream(item.partition(self._partitions)))
            args.append(item.to_json())
        flags = await self._script(keys=script_keys, args=args)
        return [bool(int(flag)) for flag in flags]
