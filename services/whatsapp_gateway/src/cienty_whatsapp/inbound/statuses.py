"""Delivery statuses of our outbound messages, and reactions to them.

Meta reports `sent`, `delivered`, `read` (and `played` for voice) and `failed` for each message
the gateway sent, in no guaranteed order and maybe not all of them (a `read` implies the
`delivered` it skipped; with several devices, `delivered` may even follow `failed`). The outbound
sender maps Meta's id to ours (`keys.wamid_to_message(wamid)` → message id); the worker writes
the delivery state into that message's hash (`keys.outbound_state(message_id)`):

- `delivery` (+ `delivery_at`, Meta's timestamp): only ever moves forward, by rank
  sent (1) < failed (2) < delivered (3) < read (4) < played (5). `failed` overrides `sent`
  (the message will not arrive), and is final unless Meta later reports the message delivered
  or read on some device after all, which is then the truth for staff;
- `delivery_error`: JSON `{code, title, message, details}` of a failure (kept even when a
  higher status came first); each failure is also appended once to
  `keys.DELIVERY_FAILURES_STREAM` for staff (the outbound sender's fields: reason
  `delivery_failed`, message_id, to, code, error, occurred_at; plus wamid, title, details and
  errors (JSON)), `delivery_failure_reported` marking that it was.

A status may come before the sender wrote its mapping (Meta is fast, or the sender crashed
between the send and the write). The sender tags every send with `biz_opaque_callback_data` =
our message id, which Meta echoes in the statuses: when the wamid is not mapped and that id
names an existing outbound message, the status is applied there. Failing both, it is kept under
the wamid itself (`keys.outbound_state(wamid)`, expiring after `early_ttl_seconds`), and
`link_wamid` — for a writer of the mapping that wants them — moves it onto the message's hash
in the same atomic step as the mapping, so no status is lost to the race.

Each step is one Lua script (atomic; statuses are applied in any order, any number of times,
with the same result). Like the webhook's intake, the scripts touch keys they compute: a
single-shard Redis is assumed (no Redis Cluster).
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from cienty_whatsapp import keys
from cienty_whatsapp.items import InboundItem

RANKS = {"sent": 1, "failed": 2, "delivered": 3, "read": 4, "played": 5}
EARLY_TTL_SECONDS = 7 * 24 * 3600

# As the outbound sender trims the failures stream.
FAILURES_MAXLEN = 100_000

_RANKS_LUA = (
    "local RANK = {sent=1, failed=2, delivered=3, read=4, played=5}\n"
    f"local FAILURES_MAXLEN = {FAILURES_MAXLEN}\n"
)

# KEYS: [1] wamid_to_message(wamid), [2] outbound_state(wamid), [3] failures stream.
# ARGV: [1] outbound_state prefix, [2] status, [3] at, [4] error JSON or '', [5] early TTL (s),
# [6] opaque callback data or '', [7..] failure entry fields (name, value, ...) without
# message_id. Returns {applied, found, reported, message_id}.
_APPLY = (
    _RANKS_LUA
    + """
local message_id = redis.call('GET', KEYS[1])
local key
local found = 1
if message_id then
  key = ARGV[1] .. message_id
elseif ARGV[6] ~= '' and redis.call('EXISTS', ARGV[1] .. ARGV[6]) == 1 then
  message_id = ARGV[6]
  key = ARGV[1] .. message_id
else
  message_id = ''
  key = KEYS[2]
  found = 0
end
local existed = redis.call('EXISTS', key)
local current = RANK[redis.call('HGET', key, 'delivery') or ''] or 0
local applied = 0
if (RANK[ARGV[2]] or 0) > current then
  redis.call('HSET', key, 'delivery', ARGV[2], 'delivery_at', ARGV[3])
  applied = 1
end
local reported = 0
if ARGV[4] ~= '' then
  redis.call('HSET', key, 'delivery_error', ARGV[4])
  if redis.call('HSETNX', key, 'delivery_failure_reported', '1') == 1 then
    local fields = {'message_id', message_id}
    for n = 7, #ARGV do fields[#fields + 1] = ARGV[n] end
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', FAILURES_MAXLEN, '*', unpack(fields))
    reported = 1
  end
end
if found == 0 or existed == 0 then
  redis.call('EXPIRE', key, ARGV[5])
end
return {applied, found, reported, message_id}
"""
)

# KEYS: [1] wamid_to_message(wamid), [2] outbound_state(wamid), [3] outbound_state(message_id).
# ARGV: [1] message id, [2] mapping TTL (s) or 0 for none.
_LINK = (
    _RANKS_LUA
    + """
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local early = redis.call('HMGET', KEYS[2], 'delivery', 'delivery_at', 'delivery_error',
                         'delivery_failure_reported')
local current = RANK[redis.call('HGET', KEYS[3], 'delivery') or ''] or 0
if early[1] and (RANK[early[1]] or 0) > current then
  redis.call('HSET', KEYS[3], 'delivery', early[1], 'delivery_at', early[2] or '')
end
if early[3] then redis.call('HSET', KEYS[3], 'delivery_error', early[3]) end
if early[4] then redis.call('HSET', KEYS[3], 'delivery_failure_reported', early[4]) end
redis.call('DEL', KEYS[2])
return 1
"""
)

# KEYS: [1] wamid_to_message(reacted wamid). ARGV: [1] prefix, [2] emoji ('' = removed), [3] at.
# Returns 1 when the reacted message is one of ours.
_REACT = """
local message_id = redis.call('GET', KEYS[1])
if not message_id then return 0 end
local key = ARGV[1] .. message_id
local at = tonumber(redis.call('HGET', key, 'reaction_at') or '0') or 0
if tonumber(ARGV[3]) >= at then
  redis.call('HSET', key, 'reaction', ARGV[2], 'reaction_at', ARGV[3])
end
return 1
"""


class StatusOutcome(enum.StrEnum):
    APPLIED = "applied"  # the message's delivery state moved forward
    KEPT = "kept"  # a higher status was there already (out of order, or a duplicate)
    EARLY = "early"  # unknown wamid so far: kept under the wamid
    IGNORED = "ignored"  # a status name we do not rank


class DeliveryTracker:
    def __init__(self, redis: Redis, *, early_ttl_seconds: int = EARLY_TTL_SECONDS) -> None:
        self._early_ttl = early_ttl_seconds
        self._apply = redis.register_script(_APPLY)
        self._react = redis.register_script(_REACT)

    async def apply(self, item: InboundItem) -> StatusOutcome:
        """Applies one status item (`kind == "status"`)."""
        if item.status not in RANKS:
            return StatusOutcome.IGNORED
        error_json = ""
        failure: list[str] = []
        if item.status == "failed":
            first = item.errors[0] if item.errors else None
            error_json = json.dumps(
                {
                    "code": first.code if first else 0,
                    "title": first.title if first else "",
                    "message": first.message if first else "",
                    "details": first.details if first else "",
                },
                ensure_ascii=False,
            )
            failure = [
                "reason",
                "delivery_failed",
                "wamid",
                item.id,
                "to",
                "+" + item.wa_id.lstrip("+"),
                "code",
                str(first.code) if first else "",
                "error",
                _error_text(first.title, first.message, first.details) if first else "failed",
                "title",
                first.title if first else "",
                "details",
                first.details if first else "",
                "errors",
                json.dumps(
                    [
                        {
                            "code": e.code,
                            "title": e.title,
                            "message": e.message,
                            "details": e.details,
                        }
                        for e in item.errors
                    ],
                    ensure_ascii=False,
                ),
                "occurred_at",
                datetime.fromtimestamp(item.timestamp, UTC).isoformat(),
            ]
        opaque = item.extra.get("biz_opaque_callback_data")
        result: Any = await self._apply(
            keys=[
                keys.wamid_to_message(item.id),
                keys.outbound_state(item.id),
                keys.DELIVERY_FAILURES_STREAM,
            ],
            args=[
                keys.outbound_state(""),
                item.status,
                str(item.timestamp),
                error_json,
                self._early_ttl,
                opaque if isinstance(opaque, str) else "",
                *failure,
            ],
        )
        applied, found = int(result[0]), int(result[1])
        if not found:
            return StatusOutcome.EARLY
        return StatusOutcome.APPLIED if applied else StatusOutcome.KEPT

    async def record_reaction(self, item: InboundItem) -> bool:
        """A customer's reaction to one of our messages, on that message's hash (`reaction`,
        `reaction_at`; the newest wins, an empty emoji means removed). False when the reacted
        message is not one the sender mapped."""
        reaction = item.extra.get("reaction")
        if not isinstance(reaction, dict) or not reaction.get("message_id"):
            return False
        found = await self._react(
            keys=[keys.wamid_to_message(str(reaction["message_id"]))],
            args=[keys.outbound_state(""), str(reaction.get("emoji") or ""), str(item.timestamp)],
        )
        return bool(int(found))


def _error_text(title: str, message: str, details: str) -> str:
    parts = [p for p in (title, message, details) if p]
    return ": ".join(dict.fromkeys(parts)) or "failed"


async def link_wamid(redis: Redis, wamid: str, message_id: str, *, ttl_seconds: int = 0) -> bool:
    """For the outbound sender: writes `keys.wamid_to_message(wamid)` = message id (expiring
    after `ttl_seconds`, 0 for never) and, in the same atomic step, moves any status that came
    before it onto the message's hash. True when there was such a status."""
    moved = await redis.register_script(_LINK)(
        keys=[
            keys.wamid_to_message(wamid),
            keys.outbound_state(wamid),
            keys.outbound_state(message_id),
        ],
        args=[message_id, ttl_seconds],
    )
    return bool(int(moved))
