"""Pacing of sends to one recipient: Meta's pair rate (about one message every 6 s to the same
WhatsApp user, short bursts allowed; error 131056 beyond it).

A token bucket kept in Redis as GCRA (one "theoretical arrival time" per recipient, under
`keys.pace`), updated by one Lua script with Redis' own clock, so every sender replica shares
the bucket and no clock skew between pods matters. `reserve` books the next slot and says how
long to wait for it: `burst` sends go at once, then one every `interval`. Booking (instead of
"try again later") never polls and serves a recipient's messages first come, first served.
A 131056 from Meta means our idea of the bucket was too generous: `penalize` empties it so the
next slot is at least `seconds` away.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from cienty_whatsapp import keys

# KEYS[1]: the recipient's pace key. ARGV: interval (ms), burst.
# Returns the wait in milliseconds before the booked slot.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local booked = tat + interval
redis.call('SET', KEYS[1], booked, 'PX', booked - now + 1)
return wait
"""

# KEYS[1]: the recipient's pace key. ARGV: interval (ms), burst, delay (ms).
# The bucket is emptied: the next slot is no sooner than `delay` from now.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tolerance = tonumber(ARGV[1]) * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local target = now + tonumber(ARGV[3]) + tolerance
if target > tat then
  redis.call('SET', KEYS[1], target, 'PX', target - now + 1)
end
return 0
"""


class Pacer:
    def __init__(self, redis: Redis, *, interval_seconds: float, burst: int) -> None:
        self._redis = redis
        self._interval_ms = int(interval_seconds * 1000)
        self._burst = max(1, burst)
        self._reserve: Any = redis.register_script(_RESERVE)
        self._penalize: Any = redis.register_script(_PENALIZE)

    @property
    def enabled(self) -> bool:
        return self._interval_ms > 0

    async def reserve(self, recipient: str) -> float:
        """Books the recipient's next send slot; returns the seconds to wait for it."""
        if not self.enabled:
            return 0.0
        waited = await self._reserve(
            keys=[keys.pace(recipient)], args=[self._interval_ms, self._burst]
        )
        return int(waited) / 1000

    async def penalize(self, recipient: str, seconds: float) -> None:
        """Meta said 131056 (pair rate): nothing goes to this recipient for `seconds`, and the
        burst allowance is spent."""
        if not self.enabled:
            return
        await self._penalize(
            keys=[keys.pace(recipient)],
            args=[self._interval_ms, self._burst, max(int(seconds * 1000), self._interval_ms)],
        )
