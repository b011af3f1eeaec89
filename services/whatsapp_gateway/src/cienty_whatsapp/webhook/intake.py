"""Appends a POST's items to the inbound streams, each at most once, all in one script call.

For each item, in order: `SET seen(dedupe_key) 1 NX EX ttl`, and only when that set the key,
`XADD inbound_stream(partition) * item <json>`. Redis runs a script without interleaving other
commands, so a request is stored whole or not at all (a redelivery of a request that failed
is stored whole), two copies of one update in one POST or across POSTs give one stream entry,
and a chat's updates land on its partition's stream in Meta's order.

Note for Redis Cluster: the script touches keys of many hash slots; it needs a single-shard
Redis (as ElastiCache without cluster mode, or the embedded one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from redis.asyncio import Redis

from cienty_whatsapp import keys
from cienty_whatsapp.items import InboundItem

# Meta redelivers for up to 7 days: remembering an update for less would let a late
# redelivery through as new.
MIN_DEDUPE_TTL_SECONDS = 7 * 24 * 3600

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


class Intake:
    def __init__(self, redis: Redis, *, partitions: int, dedupe_ttl_seconds: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be positive")
        self._partitions = partitions
        self._ttl = str(dedupe_ttl_seconds)
        self._script = redis.register_script(_APPEND)

    async def append(self, items: Sequence[InboundItem]) -> int:
        """Stores the items not seen before; returns how many were new."""
        return sum(await self.append_each(items))

    async def append_each(self, items: Sequence[InboundItem]) -> list[bool]:
        """Stores the items not seen before; returns, per item, whether it was new. Raises
        redis-py's errors when Redis is unreachable (nothing of the call is stored then)."""
        if not items:
            return []
        script_keys: list[str] = []
        args: list[str] = [self._ttl]
        for item in items:
            script_keys.append(keys.seen(item.dedupe_key))
            script_keys.append(keys.inbound_stream(item.partition(self._partitions)))
            args.append(item.to_json())
        flags = await self._script(keys=script_keys, args=args)
        return [bool(int(flag)) for flag in flags]
