"""Per-number flood protection: a token bucket in Redis, and a polite reply, never silence.

Each number has a bucket of `CIENTY_FLOOD_BURST` tokens refilled at `CIENTY_FLOOD_PER_MINUTE`
(`keys.flood(wa_id)`: a hash with `tokens`, `ts` in ms and `notified`), updated by one Lua
script, so concurrent workers and replicas see one bucket. A message that finds a token goes on
to the agent. A message that finds the bucket empty is dropped: it is not forwarded (it would
cost an agent turn and an answer per message; a customer pasting twenty lines or a script
looping must not run the model twenty times), it is counted
(`cienty_whatsapp_inbound_flood_drops_total`) and logged with the number masked, and the first
drop of a flood episode queues one polite reply on the outbound stream. The episode ends when the
bucket has refilled to half its size; the next flood gets a new reply.

The reply goes out like any system message: an entry on `conversations.outbound` in the fields
conversations writes (`cienty_conversations.service.streams.outbound_entry`), so the outbound
sender needs nothing special for it. Its `message_id` is derived from the wamid that triggered it,
so a redelivery after a crash cannot send it twice (the sender sends a message id once).
"""

from __future__ import annotations

import enum
import math
import time
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis

from cienty_kit.errors import InvalidArgument
from cienty_kit.phones import normalize_phone
from cienty_whatsapp import keys

POLITE_REPLY = (
    "Recebemos muitas mensagens seguidas. Aguarde um instante que já respondemos, por favor."
)
_REPLY_NAMESPACE = uuid.UUID("1f6f2a9e-3c1b-4f0e-9a57-6c0d8e2b7a41")


class FloodDecision(enum.IntEnum):
    ALLOW = 1
    DROP = 0
    # Dropped, and the first drop of this episode: queue the polite reply.
    DROP_AND_NOTIFY = -1


# KEYS[1]: the bucket. ARGV: now (ms), burst, tokens per ms, TTL (ms).
_TAKE = """
local now = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'notified')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
local notified = state[3] == '1'
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
if tokens >= burst / 2 then notified = false end
local result
if tokens >= 1 then
  tokens = tokens - 1
  result = 1
elseif notified then
  result = 0
else
  notified = true
  result = -1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now),
           'notified', notified and '1' or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return result
"""


class FloodGuard:
    def __init__(self, redis: Redis, *, burst: int, per_minute: float) -> None:
        self._burst = burst
        self._per_ms = per_minute / 60_000
        # Once the bucket would be full again the key can go (absent means full).
        self._ttl_ms = math.ceil(burst / self._per_ms) + 60_000
        self._script = redis.register_script(_TAKE)

    async def take(self, wa_id: str, *, now: float | None = None) -> FloodDecision:
        """Takes a token for a message of this number."""
        now_ms = int((time.time() if now is None else now) * 1000)
        result = await self._script(
            keys=[keys.flood(wa_id)],
            args=[now_ms, self._burst, repr(self._per_ms), self._ttl_ms],
        )
        return FloodDecision(int(result))


def customer_phone(wa_id: str) -> str:
    """The E.164 number conversations would write as `to`; a `wa_id` that is not a phone number
    (a business-scoped user id) goes as it is, with a `+`."""
    try:
        return normalize_phone(wa_id)
    except InvalidArgument:
        return "+" + wa_id.lstrip("+")


def polite_reply_entry(wa_id: str, wamid: str, *, now: datetime | None = None) -> dict[str, str]:
    """The outbound stream entry of the flood reply (fields of conversations' `outbound_entry`)."""
    return {
        "message_id": str(uuid.uuid5(_REPLY_NAMESPACE, f"flood:{wamid}")),
        "conversation_id": "",
        "channel": "whatsapp",
        "to": customer_phone(wa_id),
        "author": "system",
        "text": POLITE_REPLY,
        "buttons": "[]",
        "template": "",
        "created_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
    }
