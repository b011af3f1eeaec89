"""The delivery state of each outbound message: how a message is sent at most once.

`keys.outbound_state(message_id)` is a hash; every change is one Lua script (compare and set),
so sender replicas, redeliveries and reclaims cannot race each other:

    (none) ──claim──▶ sending ──Meta accepted──▶ sent            (or partial, when parts remain)
    partial ──claim──▶ sending                                   (the next part)
    sending ──Meta answered an error: 429/5xx/throughput/131056──▶ retrying ──claim──▶ sending
    sending ──131047, the message has a template, nothing sent yet──▶ retrying (mode=template)
    sending ──permanent error / 131047 without template / retries spent──▶ failed
    sending ──no answer (timeout, dropped connection, odd reply)──▶ unknown
    sending ──the sender died (its lease ran out, the entry came back)──▶ unknown
    (none|retrying|partial) ──owner is staff, or outside the window without template──▶
        suppressed | failed                                       (nothing is sent)

The claim happens *before* the API is called. Only a claimed message is sent, and only
`retrying` or `partial` can be claimed again. Both mean Meta answered and took nothing: the API
answered with an error, or it accepted the previous part. A message left in `sending` is never
sent again, even if only its sender crashed. Meta may have accepted it (the request can reach
Meta and the answer get lost), and nothing tells us whether it did. It becomes `unknown` and goes
to staff on `keys.DELIVERY_FAILURES_STREAM`. A customer who gets one "your order is confirmed"
too few can be told by a person. Two confirmations, or two copies of an agent's answer,
cannot be taken back.

`sending` carries a lease (Redis' clock), longer than any API call may take, so a live sender
that is slow is told apart from a dead one: only an expired lease turns into `unknown`.
`sent`, `failed`, `suppressed` and `unknown` are final: a redelivered entry is only acknowledged.
Every failure is written to the failures stream in the same script that records it, so a crash
cannot lose the notice to staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from cienty_whatsapp import keys

SENDING = "sending"
PARTIAL = "partial"
RETRYING = "retrying"
SENT = "sent"
FAILED = "failed"
SUPPRESSED = "suppressed"
UNKNOWN = "unknown"
FINAL = frozenset({SENT, FAILED, SUPPRESSED, UNKNOWN})
# Nothing in flight and nothing final: the message may be claimed (or settled without sending).
OPEN = frozenset({"", RETRYING, PARTIAL})

Mode = Literal["free", "template"]

STATE_TTL_SECONDS = 30 * 24 * 3600
# Meta reports statuses of a message for as long as it tries to deliver it (30 days).
WAMID_TTL_SECONDS = 30 * 24 * 3600
FAILURES_MAXLEN = 100_000

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] state. ARGV: token, consumer, lease ms, ttl s, expected state ('' = none),
# expected part, mode, parts.
_CLAIM = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'lease_until', 'part', 'attempts')
local state = s[1] or ''
if state == 'sending' then
  if now < tonumber(s[2] or '0') then return {'busy'} end
  return {'abandoned'}
end
if state ~= ARGV[5] or tonumber(s[3] or '0') ~= tonumber(ARGV[6]) then
  return {'changed', state}
end
if state ~= '' and state ~= 'retrying' and state ~= 'partial' then return {'changed', state} end
local attempts = tonumber(s[4] or '0') + 1
redis.call('HSET', KEYS[1], 'state', 'sending', 'token', ARGV[1], 'claimed_by', ARGV[2],
  'lease_until', now + tonumber(ARGV[3]), 'mode', ARGV[7], 'part', ARGV[6], 'parts', ARGV[8],
  'attempts', attempts, 'updated_at', now)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {'claimed', tostring(attempts)}
"""
)

# KEYS[1] state, KEYS[2] wamid → message. ARGV: token, wamid, sent_at, ttl s, wamid ttl s,
# message id. Meta accepted the claimed part.
_SENT_PART = (
    _NOW
    + """
redis.call('SET', KEYS[2], ARGV[6], 'EX', tonumber(ARGV[5]))
local s = redis.call('HMGET', KEYS[1], 'state', 'token', 'part', 'parts', 'wamids')
if s[2] ~= ARGV[1] then return {'lost', ''} end
local previous = s[1] or ''
local part = tonumber(s[3] or '0') + 1
local state = 'sent'
if part < tonumber(s[4] or '1') then state = 'partial' end
local wamids = ARGV[2]
if s[5] and s[5] ~= '' then wamids = s[5] .. ' ' .. ARGV[2] end
redis.call('HSET', KEYS[1], 'state', state, 'part', part, 'attempts', 0, 'wamid', ARGV[2],
  'wamids', wamids, 'sent_at', ARGV[3], 'updated_at', now)
redis.call('HDEL', KEYS[1], 'lease_until')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if previous ~= 'sending' then return {'late', state} end
return {'ok', state}
"""
)

# KEYS[1] state, KEYS[2] failures stream. ARGV: condition ('token' | 'open' | 'abandoned'),
# token, new state, ttl s, failures maxlen, n (hash field/value pairs), the pairs, then the
# failure entry's pairs (none: no entry). Returns 'ok' or the state that forbade the change.
_SETTLE = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'token', 'lease_until')
local state = s[1] or ''
local condition = ARGV[1]
local allowed = false
if condition == 'token' then
  allowed = state == 'sending' and s[2] == ARGV[2]
elseif condition == 'open' then
  allowed = state == '' or state == 'retrying' or state == 'partial'
elseif condition == 'abandoned' then
  allowed = state == 'sending' and now >= tonumber(s[3] or '0')
end
if not allowed then
  if state == '' then return '-' end
  return state
end
local n = tonumber(ARGV[6])
local fields = {'state', ARGV[3], 'updated_at', now}
for i = 7, 6 + 2 * n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HDEL', KEYS[1], 'lease_until')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if #ARGV > 6 + 2 * n then
  local entry = {}
  for i = 7 + 2 * n, #ARGV do entry[#entry + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', tonumber(ARGV[5]), '*', unpack(entry))
end
return 'ok'
"""
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    state: str  # '' when the message was never seen
    part: int = 0
    parts: int = 0
    mode: str = ""
    attempts: int = 0

    @property
    def final(self) -> bool:
        return self.state in FINAL


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Literal["claimed", "busy", "abandoned", "changed"]
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class PartSent:
    outcome: Literal["ok", "late", "lost"]
    state: str  # sent, or partial when parts remain


class DeliveryStore:
    def __init__(
        self,
        redis: Redis,
        *,
        failures_stream: str = keys.DELIVERY_FAILURES_STREAM,
        ttl_seconds: int = STATE_TTL_SECONDS,
        wamid_ttl_seconds: int = WAMID_TTL_SECONDS,
        failures_maxlen: int = FAILURES_MAXLEN,
    ) -> None:
        self._redis = redis
        self._failures_stream = failures_stream
        self._ttl = ttl_seconds
        self._wamid_ttl = wamid_ttl_seconds
        self._maxlen = failures_maxlen
        self._claim: Any = redis.register_script(_CLAIM)
        self._sent_part: Any = redis.register_script(_SENT_PART)
        self._settle: Any = redis.register_script(_SETTLE)

    async def read(self, message_id: str) -> Snapshot:
        raw: Any = await self._redis.hmget(
            keys.outbound_state(message_id), ["state", "part", "parts", "mode", "attempts"]
        )
        state, part, parts, mode, attempts = (_text(v) for v in raw)
        return Snapshot(state, _int(part), _int(parts), mode, _int(attempts))

    async def claim(
        self,
        message_id: str,
        *,
        expected: Snapshot,
        token: str,
        consumer: str,
        lease_seconds: float,
        mode: Mode,
        parts: int,
    ) -> Claim:
        """Takes the message for one API call, if it is still as `expected` (state and part)."""
        result: Any = await self._claim(
            keys=[keys.outbound_state(message_id)],
            args=[
                token,
                consumer,
                int(lease_seconds * 1000),
                self._ttl,
                expected.state,
                expected.part,
                mode,
                parts,
            ],
        )
        outcome = _text(result[0])
        if outcome == "claimed":
            return Claim("claimed", int(_text(result[1])))
        if outcome in ("busy", "abandoned"):
            return Claim(outcome)  # type: ignore[arg-type]
        return Claim("changed")

    async def part_sent(self, message_id: str, *, token: str, wamid: str, sent_at: str) -> PartSent:
        """Meta accepted the claimed part: its wamid is recorded (and mapped back to us)."""
        result: Any = await self._sent_part(
            keys=[keys.outbound_state(message_id), keys.wamid_to_message(wamid)],
            args=[token, wamid, sent_at, self._ttl, self._wamid_ttl, message_id],
        )
        return PartSent(_text(result[0]), _text(result[1]))  # type: ignore[arg-type]

    async def retrying(
        self, message_id: str, *, token: str, mode: Mode, code: int | None, error: str
    ) -> bool:
        """Meta answered the claimed call with an error: nothing was sent; claimable again."""
        fields = {"mode": mode, "error_code": "" if code is None else str(code), "error": error}
        return await self.settle(
            message_id, condition="token", token=token, state=RETRYING, fields=fields
        )

    async def settle(
        self,
        message_id: str,
        *,
        condition: Literal["token", "open", "abandoned"],
        state: str,
        token: str = "",
        fields: dict[str, str] | None = None,
        failure: dict[str, str] | None = None,
    ) -> bool:
        """Moves the message to `state` if `condition` holds (`token`: we hold the claim;
        `open`: nothing in flight and nothing final; `abandoned`: a claim whose lease ran out),
        and writes `failure` to the failures stream in the same step. False: it did not hold."""
        pairs = [item for key_value in (fields or {}).items() for item in key_value]
        entry = [item for key_value in (failure or {}).items() for item in key_value]
        result: Any = await self._settle(
            keys=[keys.outbound_state(message_id), self._failures_stream],
            args=[
                condition,
                token,
                state,
                self._ttl,
                self._maxlen,
                len(pairs) // 2,
                *pairs,
                *entry,
            ],
        )
        return _text(result) == "ok"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
