"""The 24-hour customer-service window: `keys.window(wa_id)` = the customer's last message time.

Set on every customer message, before it goes to conversations (whose reply the outbound sender
may read the key for a moment later), to the message's timestamp in Unix seconds, expiring 24 h
after that timestamp. Never moved backwards: a late redelivery of an older message does not
shorten the window a newer one opened.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from cienty_whatsapp import keys

WINDOW_SECONDS = 24 * 3600

# KEYS[1]: the window. ARGV: the message timestamp (s), window length (s), now (s).
_TOUCH = """
local ts = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current ~= nil and current >= ts then return 0 end
local remaining = ts + tonumber(ARGV[2]) - tonumber(ARGV[3])
if remaining <= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', remaining)
return 1
"""


class Window:
    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(_TOUCH)

    async def touch(self, wa_id: str, timestamp: int, *, now: float | None = None) -> bool:
        """True when the window moved (was opened or extended) by this message."""
        now_s = int(time.time() if now is None else now)
        moved = await self._script(
            keys=[keys.window(wa_id)], args=[int(timestamp), WINDOW_SECONDS, now_s]
        )
        return bool(int(moved))
