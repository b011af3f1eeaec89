"""The outbound sender: `conversations.outbound` → the Graph API, each message at most once.

Reading. One consumer group (`settings.outbound_group`) on `settings.outbound_stream`, created
at id 0 (MKSTREAM) so entries written before the first start count. Each replica reads new
entries, its own pending entries after a restart, and with XAUTOCLAIM the entries a crashed
replica left pending longer than `reclaim_idle_seconds`. A live sender keeps its entries
fresh (XCLAIM JUSTID heartbeat), so a long backoff is never mistaken for a crash.

Ordering and concurrency. Entries go to one lane per recipient: lanes run concurrently, a
lane works its entries one at a time in stream order (a min-heap on the entry id, so an older
entry reclaimed later still goes first). Across replicas, an entry is not sent while an
older entry for the same number is still pending in the group (a Lua scan of the pending list),
since XREADGROUP hands out entries in id order to whichever replica asks. A long answer split in
parts therefore leaves in order whoever reads it. A recipient who must wait (pacing, backoff)
delays only its own lane.

For each message (see `state` for the at-most-once state machine):
1. a final state (sent, failed, suppressed, unknown) → only acknowledged;
2. an abandoned claim (`sending` whose lease ran out) → `unknown`, surfaced to staff, never
   sent again;
3. the 24-hour window (`keys.window`): free-form only inside it; outside it the message's
   template, or, without one, `failed` ("outside the 24-hour window"), not sent;
4. pacing: the recipient's next slot in the shared token bucket (`pacing`);
5. owner check, right before sending, for agent messages only: the conversation must still be
   the bot's (BOT, or WAITING_HUMAN, since the agent's handover message is written in the same
   transaction that sets WAITING_HUMAN); HUMAN or CLOSED → `suppressed`. Staff and system
   messages always go. Conversations unreachable → try again later, never send blindly;
6. claim, send, record. 429/5xx/throughput and 131056 back off (exponential, jittered,
   `Retry-After` honoured) and retry up to `max_attempts`; 131047 switches to the template
   when there is one; permanent errors are recorded and surfaced; no answer → `unknown`.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty_kit.logging import get_logger
from cienty_kit.phones import mask_phone
from cienty_whatsapp import keys
from cienty_whatsapp.conversations import TRANSIENT
from cienty_whatsapp.graph import GraphError
from cienty_whatsapp.outbound import metrics
from cienty_whatsapp.outbound.message import (
    WHATSAPP,
    MalformedEntry,
    OutboundMessage,
    decode_fields,
    parse_entry,
    recipient_key,
    wa_id_candidates,
)
from cienty_whatsapp.outbound.pacing import Pacer
from cienty_whatsapp.outbound.render import Rendered, render_free_form, render_template
from cienty_whatsapp.outbound.state import (
    FAILED,
    FAILURES_MAXLEN,
    OPEN,
    PARTIAL,
    SENDING,
    SUPPRESSED,
    UNKNOWN,
    DeliveryStore,
    Mode,
    Snapshot,
)
from cienty_whatsapp.settings import GatewaySettings

log = get_logger(__name__)

# Agent messages may go while the conversation is in these states (see the module docstring).
AGENT_MAY_SEND = frozenset({pb.CONVERSATION_STATUS_BOT, pb.CONVERSATION_STATUS_WAITING_HUMAN})

# Reasons written to the failures stream (and the failures metric).
REASON_WINDOW = "window_closed"
REASON_REJECTED = "rejected"
REASON_AUTH = "auth_failed"
REASON_RETRIES = "retries_exhausted"
REASON_UNKNOWN = "unknown_outcome"
REASON_MALFORMED = "malformed_entry"
REASON_OWNER = "owner_check_failed"
REASON_CONVERSATIONS = "conversations_unavailable"
REASON_INTERNAL = "internal_error"
OUTSIDE_WINDOW = "outside the 24-hour window and the message has no template"
ABANDONED = "the sender stopped during the API call: the message may have been sent"

# An older pending entry for the same number (Lua): KEYS[1] stream; ARGV: group, entry id,
# to, how many pending entries to look at. Returns the older entry's id, or nil.
_OLDER_PENDING = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '(' .. ARGV[2], tonumber(ARGV[4]))
for _, p in ipairs(pending) do
  local found = redis.call('XRANGE', KEYS[1], p[1], p[1])
  if #found > 0 then
    local fields = found[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'to' then
        if fields[i + 1] == ARGV[3] then return p[1] end
        break
      end
    end
  end
end
return false
"""


class OwnerLookup(Protocol):
    """`ConversationsClient` as the sender needs it."""

    async def status(self, conversation_id: str) -> int: ...


class MessageSender(Protocol):
    """`GraphClient` as the sender needs it."""

    async def send(self, payload: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True, slots=True)
class _Done:
    """Settled: acknowledge the entry."""


@dataclass(frozen=True, slots=True)
class _Leave:
    """Not ours to settle now (another sender holds the claim, or we are stopping): leave the
    entry pending; it comes back by XAUTOCLAIM."""


@dataclass(frozen=True, slots=True)
class _Wait:
    """Look at the entry again after `seconds`, before any newer entry of its recipient."""

    seconds: float


_Outcome = _Done | _Leave | _Wait
DONE, LEAVE = _Done(), _Leave()
AGAIN = _Wait(0.0)  # look at the entry again at once


@dataclass
class _Lane:
    heap: list[tuple[tuple[int, int], str, dict[str, str]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class OutboundSender:
    def __init__(
        self,
        settings: GatewaySettings,
        redis: Redis,
        graph: MessageSender,
        conversations: OwnerLookup,
        *,
        consumer: str,
        reclaim_idle_seconds: float = 60.0,
        send_timeout_seconds: float = 30.0,
        lease_margin_seconds: float = 30.0,
        block_ms: int = 1000,
        batch_size: int = 100,
        max_in_flight: int = 1000,
        max_concurrent_sends: int = 32,
        order_poll_seconds: float = 0.5,
        order_scan: int = 1000,
        window_hours: float = 24.0,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._graph = graph
        self._conversations = conversations
        self.consumer = consumer
        self._stream = settings.outbound_stream
        self._group = settings.outbound_group
        self._reclaim_idle_ms = max(1, int(reclaim_idle_seconds * 1000))
        self._send_timeout = send_timeout_seconds
        # A claim outlives any send call: only a dead sender's claim expires.
        self._lease_seconds = send_timeout_seconds + lease_margin_seconds
        self._lease_margin = lease_margin_seconds
        self._block_ms = block_ms
        self._batch = batch_size
        self._max_in_flight = max_in_flight
        self._order_poll = order_poll_seconds
        self._order_scan = order_scan
        self._window_seconds = window_hours * 3600
        self._rng = rng or random.Random()
        self._store = DeliveryStore(redis)
        self._pacer = Pacer(
            redis, interval_seconds=settings.pace_seconds, burst=settings.pace_burst
        )
        self._older_pending: Any = redis.register_script(_OLDER_PENDING)
        self._sends = asyncio.Semaphore(max_concurrent_sends)
        self._stopping = asyncio.Event()
        self._room = asyncio.Event()
        self._lanes: dict[str, _Lane] = {}
        self._held: set[str] = set()
        # Conversations-unreachable tries per entry (in memory: a restart starts over).
        self._owner_tries: dict[str, int] = {}
        self._own_pending_from: str | None = "0"
        self._reclaim_from = "0-0"
        self._next_reclaim = 0.0

    # ------------------------------------------------------------------------------ control
    def stop(self) -> None:
        """Stops reading; sends in flight finish, waiting entries stay pending for later."""
        self._stopping.set()

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def run(self) -> None:
        """Works the stream until `stop()`; then waits for the sends in flight."""
        self._own_pending_from = "0"
        heartbeat = asyncio.create_task(self._heartbeat())
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                try:
                    await self.ensure_group()
                    while not self._stopping.is_set():
                        if len(self._held) >= self._max_in_flight:
                            self._room.clear()
                            await self._wait(self._room, 1.0)
                            continue
                        await self._fetch_and_dispatch(self._block_ms)
                        backoff = 0.5
                except (RedisError, OSError) as error:
                    log.warning("outbound_read_failed", error=str(error), retry_in=backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            await self.drain()
        finally:
            heartbeat.cancel()
            for lane in list(self._lanes.values()):
                if lane.task is not None:
                    lane.task.cancel()
            # What is still held stays pending in the group: the next start or a replica
            # takes it up.
            metrics.IN_FLIGHT.dec(len(self._held))
            self._held.clear()
            self._lanes.clear()

    async def process_once(self) -> int:
        """One round, for tests and tools: reclaims, reads what is there without blocking, and
        returns after every entry read is settled or left; the number of entries read."""
        await self.ensure_group()
        self._next_reclaim = 0.0
        read = await self._fetch_and_dispatch(None)
        await self.drain()
        return read

    async def drain(self) -> None:
        """Waits until every lane is idle (or has stopped)."""
        while True:
            tasks = [
                lane.task for lane in self._lanes.values() if lane.task and not lane.task.done()
            ]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------ reading
    async def _fetch_and_dispatch(self, block_ms: int | None) -> int:
        read = 0
        if time.monotonic() >= self._next_reclaim:
            reclaimed: Any = await self._redis.xautoclaim(
                self._stream,
                self._group,
                self.consumer,
                self._reclaim_idle_ms,
                start_id=self._reclaim_from,
                count=self._batch,
            )
            self._reclaim_from = _text(reclaimed[0])
            if self._reclaim_from in ("0-0", "0"):
                self._reclaim_from = "0-0"
                self._next_reclaim = time.monotonic() + self._reclaim_idle_ms / 4000
            for entry_id, fields in reclaimed[1]:
                read += self._dispatch(_text(entry_id), fields)
        if self._own_pending_from is not None:
            # After a restart under the same name: what this consumer held and never settled.
            response: Any = await self._redis.xreadgroup(
                self._group,
                self.consumer,
                {self._stream: self._own_pending_from},
                count=self._batch,
            )
            entries = response[0][1] if response else []
            for entry_id, fields in entries:
                read += self._dispatch(_text(entry_id), fields)
            self._own_pending_from = _text(entries[-1][0]) if entries else None
        room = self._max_in_flight - len(self._held)
        if room > 0:
            response = await self._redis.xreadgroup(
                self._group,
                self.consumer,
                {self._stream: ">"},
                count=min(self._batch, room),
                block=block_ms if read == 0 else None,
            )
            for _, entries in response or []:
                for entry_id, fields in entries:
                    read += self._dispatch(_text(entry_id), fields)
        return read

    def _dispatch(self, entry_id: str, raw: Any) -> int:
        if entry_id in self._held:
            return 0
        fields = decode_fields(raw) if raw else {}
        recipient = recipient_key(fields.get("to", "")) if fields else ""
        self._held.add(entry_id)
        metrics.IN_FLIGHT.inc()
        lane = self._lanes.setdefault(recipient, _Lane())
        heapq.heappush(lane.heap, (_order(entry_id), entry_id, fields))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._work(recipient, lane))
        return 1

    async def _heartbeat(self) -> None:
        """Keeps our entries' idle time low, so no other replica reclaims them while we work
        (a backoff may last minutes)."""
        interval = self._reclaim_idle_ms / 4000
        while await self._sleep(interval):
            if not self._held:
                continue
            try:
                await self._redis.xclaim(
                    self._stream,
                    self._group,
                    self.consumer,
                    0,
                    list(self._held),
                    justid=True,
                )
            except (RedisError, OSError) as error:
                log.warning("outbound_heartbeat_failed", error=str(error))

    # ------------------------------------------------------------------------------ lanes
    async def _work(self, recipient: str, lane: _Lane) -> None:
        while lane.heap and not self._stopping.is_set():
            item = heapq.heappop(lane.heap)
            _, entry_id, fields = item
            try:
                outcome = await self._handle(entry_id, fields)
            except (RedisError, OSError) as error:
                log.warning("outbound_redis_failed", entry_id=entry_id, error=str(error))
                metrics.RETRIES.labels(cause="redis").inc()
                outcome = _Wait(self._backoff(2))
            except Exception:
                # Never hold an entry forever: left pending, it is reclaimed and tried again.
                log.exception("outbound_entry_failed", entry_id=entry_id)
                outcome = LEAVE
            if isinstance(outcome, _Wait):
                heapq.heappush(lane.heap, item)
                await self._sleep(outcome.seconds)
                continue
            if isinstance(outcome, _Done):
                try:
                    await self._redis.xack(self._stream, self._group, entry_id)
                except (RedisError, OSError) as error:
                    # Settled in Redis already: the redelivered entry is only acknowledged.
                    log.warning("outbound_ack_failed", entry_id=entry_id, error=str(error))
            self._release(entry_id)
        if not lane.heap and self._lanes.get(recipient) is lane:
            del self._lanes[recipient]

    def _release(self, entry_id: str) -> None:
        if entry_id in self._held:
            self._held.discard(entry_id)
            metrics.IN_FLIGHT.dec()
        self._owner_tries.pop(entry_id, None)
        self._room.set()

    async def _handle(self, entry_id: str, fields: dict[str, str]) -> _Outcome:
        if not fields:  # trimmed away while pending
            return DONE
        if (fields.get("channel") or WHATSAPP) != WHATSAPP:
            metrics.MESSAGES.labels(outcome="skipped").inc()
            return DONE
        try:
            message = parse_entry(fields)
        except MalformedEntry as error:
            return await self._malformed(entry_id, fields, str(error))
        try:
            return await self._deliver(entry_id, message)
        except (RedisError, OSError):
            raise
        except Exception as error:
            log.exception(
                "outbound_internal_error", message_id=message.message_id, entry_id=entry_id
            )
            # Settled only if nothing is in flight; a claim left behind turns `unknown` later.
            outcome = await self._settle_open(
                message, FAILED, REASON_INTERNAL, error=repr(error)[:300]
            )
            return LEAVE if outcome is AGAIN else outcome

    # ------------------------------------------------------------------------------ one message
    async def _deliver(self, entry_id: str, message: OutboundMessage) -> _Outcome:
        mid = message.message_id
        while True:
            snapshot = await self._store.read(mid)
            if snapshot.final:
                metrics.MESSAGES.labels(outcome="duplicate").inc()
                return DONE
            if snapshot.state == SENDING:
                if await self._store.settle(
                    mid,
                    condition="abandoned",
                    state=UNKNOWN,
                    fields=_reason(REASON_UNKNOWN, error=ABANDONED),
                    failure=self._failure(message, REASON_UNKNOWN, error=ABANDONED),
                ):
                    self._failed(message, REASON_UNKNOWN, outcome="unknown")
                    return DONE
                if (await self._store.read(mid)).state == SENDING:
                    return LEAVE  # a live sender holds the claim
                continue
            if snapshot.state not in OPEN:
                continue  # changed under us: look again
            older = await self._older_pending(
                keys=[self._stream], args=[self._group, entry_id, message.to, self._order_scan]
            )
            if older:
                return _Wait(self._order_poll)

            mode: Mode = "template" if snapshot.mode == "template" else "free"
            if mode == "free" and snapshot.part == 0 and not await self._window_open(message):
                if message.template is None:
                    return await self._settle_open(
                        message, FAILED, REASON_WINDOW, error=OUTSIDE_WINDOW
                    )
                mode = "template"
            rendered = self._render(message, mode)
            if not rendered.parts and mode == "free" and message.template is not None:
                mode, rendered = "template", self._render(message, "template")
            if not rendered.parts:
                return await self._settle_open(
                    message, FAILED, REASON_MALFORMED, error="nothing to send"
                )
            if snapshot.part >= len(rendered.parts):
                # Every part went out (the record of the last one was lost): nothing to resend.
                await self._store.settle(mid, condition="open", state="sent")
                return DONE
            if snapshot.state == "" and rendered.warnings:
                log.warning(
                    "outbound_payload_adjusted", message_id=mid, warnings=list(rendered.warnings)
                )

            wait = await self._pacer.reserve(message.recipient)
            if wait > 0:
                metrics.PACING_WAIT_SECONDS.observe(wait)
                if not await self._sleep(wait):
                    return LEAVE
            outcome = await self._attempt(entry_id, message, snapshot, mode, rendered)
            if outcome is not None:
                return outcome

    async def _attempt(
        self,
        entry_id: str,
        message: OutboundMessage,
        snapshot: Snapshot,
        mode: Mode,
        rendered: Rendered,
    ) -> _Outcome | None:
        """Owner check, claim, one API call, its record. None: go round again at once (the
        next part, a template instead, or the state changed under us)."""
        mid = message.message_id
        # The claim is taken only once a send slot is ours: its lease covers the call alone.
        async with self._sends:
            if message.author == "agent":
                verdict = await self._owner_check(entry_id, message)
                if verdict is not None:
                    return verdict
            token = uuid.uuid4().hex
            claim = await self._store.claim(
                mid,
                expected=snapshot,
                token=token,
                consumer=self.consumer,
                lease_seconds=self._lease_seconds,
                mode=mode,
                parts=len(rendered.parts),
            )
            if claim.outcome == "busy":
                return LEAVE
            if claim.outcome != "claimed":
                return None
            part = rendered.parts[snapshot.part]
            wamid, error = await self._send(part.payload)
        if error is not None:
            return await self._after_error(message, snapshot, mode, token, claim.attempts, error)
        assert wamid is not None
        metrics.SENT.labels(kind=part.kind).inc()
        if await self._record_sent(mid, token, wamid) == PARTIAL:
            return None
        metrics.MESSAGES.labels(outcome="sent").inc()
        if message.created_at is not None:
            lag = datetime.now(UTC) - message.created_at
            metrics.QUEUED_SECONDS.observe(max(0.0, lag.total_seconds()))
        log.info(
            "outbound_sent",
            message_id=mid,
            conversation_id=message.conversation_id,
            to=mask_phone(message.to),
            mode=mode,
            parts=len(rendered.parts),
        )
        return DONE

    async def _after_error(
        self,
        message: OutboundMessage,
        snapshot: Snapshot,
        mode: Mode,
        token: str,
        attempts: int,
        error: GraphError,
    ) -> _Outcome | None:
        """What a refused or unanswered call leads to; None: go round again at once."""
        mid = message.message_id
        detail = _describe(error)
        if error.kind in ("retry", "pair_rate"):
            if attempts >= self._settings.max_attempts:
                await self._settle_claimed(
                    message, token, FAILED, REASON_RETRIES, error, attempts=attempts
                )
                return DONE
            if not await self._store.retrying(
                mid, token=token, mode=mode, code=error.code, error=detail
            ):
                return DONE  # declared unknown meanwhile; it stays so
            delay = self._backoff(attempts, error.retry_after)
            if error.kind == "pair_rate":
                await self._pacer.penalize(message.recipient, delay)
            metrics.RETRIES.labels(cause=error.kind).inc()
            log.info(
                "outbound_retry",
                message_id=mid,
                cause=error.kind,
                code=error.code,
                attempt=attempts,
                retry_in=round(delay, 3),
            )
            return _Wait(delay)
        if error.kind == "window_closed":
            if mode == "free" and snapshot.part == 0 and message.template is not None:
                if not await self._store.retrying(
                    mid, token=token, mode="template", code=error.code, error=detail
                ):
                    return DONE
                metrics.RETRIES.labels(cause="template_fallback").inc()
                log.info("outbound_template_fallback", message_id=mid, code=error.code)
                return None
            await self._settle_claimed(
                message, token, FAILED, REASON_WINDOW, error, attempts=attempts
            )
            return DONE
        if error.kind == "unknown":
            await self._settle_claimed(
                message, token, UNKNOWN, REASON_UNKNOWN, error, attempts=attempts
            )
            return DONE
        reason = REASON_AUTH if error.is_auth_failure else REASON_REJECTED
        if error.is_auth_failure:
            log.error(
                "outbound_auth_failed",
                message_id=mid,
                code=error.code,
                error=error.message[:200],
                hint="the WhatsApp access token is invalid or expired",
            )
        await self._settle_claimed(message, token, FAILED, reason, error, attempts=attempts)
        return DONE

    async def _send(self, payload: Mapping[str, Any]) -> tuple[str | None, GraphError | None]:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._send_timeout):
                wamid = await self._graph.send(payload)
        except GraphError as error:
            metrics.SEND_SECONDS.labels(result=error.kind).observe(time.monotonic() - started)
            return None, error
        except TimeoutError:
            problem = f"no answer within {self._send_timeout:g} s"
        except Exception as unexpected:
            # We cannot tell whether the request left: treated as unanswered.
            problem = f"send failed: {unexpected!r}"[:300]
        else:
            metrics.SEND_SECONDS.labels(result="ok").observe(time.monotonic() - started)
            return wamid, None
        metrics.SEND_SECONDS.labels(result="unknown").observe(time.monotonic() - started)
        return None, GraphError("unknown", problem)

    async def _record_sent(self, message_id: str, token: str, wamid: str) -> str:
        """Records an accepted part, trying for as long as our claim lasts: a record lost here
        turns the message `unknown` (it was sent, but a redelivery cannot know)."""
        deadline = time.monotonic() + self._lease_margin
        delay = 0.1
        while True:
            try:
                result = await self._store.part_sent(
                    message_id, token=token, wamid=wamid, sent_at=datetime.now(UTC).isoformat()
                )
                break
            except (RedisError, OSError):
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if result.outcome != "ok":
            log.warning(
                "outbound_sent_after_claim_expired",
                message_id=message_id,
                outcome=result.outcome,
                wamid=wamid,
            )
        return result.state

    async def _owner_check(self, entry_id: str, message: OutboundMessage) -> _Outcome | None:
        """None: the bot still owns the conversation, send."""
        try:
            status = await self._conversations.status(message.conversation_id)
        except Exception as error:
            code = error.code() if isinstance(error, grpc.aio.AioRpcError) else None
            if code is None or code in TRANSIENT:
                tries = self._owner_tries.get(entry_id, 0) + 1
                self._owner_tries[entry_id] = tries
                if tries < self._settings.max_attempts:
                    metrics.RETRIES.labels(cause="conversations").inc()
                    log.warning(
                        "outbound_owner_check_unavailable",
                        message_id=message.message_id,
                        error=str(code or error)[:200],
                        attempt=tries,
                    )
                    return _Wait(self._backoff(tries))
                reason = REASON_CONVERSATIONS
            else:
                reason = REASON_OWNER
            return await self._settle_open(
                message, FAILED, reason, error=f"owner check: {code or error!r}"[:300]
            )
        if status in AGENT_MAY_SEND:
            return None
        name = _status_name(status)
        if await self._store.settle(
            message.message_id,
            condition="open",
            state=SUPPRESSED,
            fields={"reason": "owner", "conversation_status": name},
        ):
            metrics.SUPPRESSED.labels(
                status=name.removeprefix("CONVERSATION_STATUS_").lower()
            ).inc()
            metrics.MESSAGES.labels(outcome="suppressed").inc()
            log.info(
                "outbound_suppressed",
                message_id=message.message_id,
                conversation_id=message.conversation_id,
                status=name,
            )
            return DONE
        return AGAIN

    async def _window_open(self, message: OutboundMessage) -> bool:
        """The customer wrote within the last 24 hours (`keys.window`, set by the inbound
        worker). The value is the customer's last message time (Unix seconds or ms); a value
        that is not a number counts as open, since the key expires with the window."""
        values: Any = await self._redis.mget(
            [keys.window(wa_id) for wa_id in wa_id_candidates(message.to)]
        )
        now = time.time()
        for value in values:
            if value is None:
                continue
            try:
                at = float(_text(value))
            except ValueError:
                return True
            if at > 1e11:  # milliseconds
                at /= 1000
            if now - at < self._window_seconds:
                return True
        return False

    # ------------------------------------------------------------------------------ helpers
    def _render(self, message: OutboundMessage, mode: Mode) -> Rendered:
        return render_template(message) if mode == "template" else render_free_form(message)

    async def _malformed(self, entry_id: str, fields: dict[str, str], problem: str) -> _Outcome:
        message_id = fields.get("message_id", "")
        failure = {
            "reason": REASON_MALFORMED,
            "message_id": message_id,
            "conversation_id": fields.get("conversation_id", ""),
            "to": fields.get("to", ""),
            "author": fields.get("author", ""),
            "code": "",
            "error": problem,
            "entry_id": entry_id,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        log.warning(
            "outbound_malformed_entry", entry_id=entry_id, message_id=message_id, error=problem
        )
        if message_id:
            await self._store.settle(
                message_id,
                condition="open",
                state=FAILED,
                fields=_reason(REASON_MALFORMED, error=problem),
                failure=failure,
            )
        else:
            await self._redis.xadd(
                keys.DELIVERY_FAILURES_STREAM,
                failure,  # type: ignore[arg-type]
                maxlen=FAILURES_MAXLEN,
                approximate=True,
            )
        metrics.FAILURES.labels(reason=REASON_MALFORMED).inc()
        metrics.MESSAGES.labels(outcome="failed").inc()
        return DONE

    async def _settle_open(
        self, message: OutboundMessage, state: str, reason: str, *, error: str
    ) -> _Outcome:
        """Settles a message that was not sent (no claim held): recorded and surfaced. If its
        state changed meanwhile (another sender), it is looked at again."""
        if await self._store.settle(
            message.message_id,
            condition="open",
            state=state,
            fields=_reason(reason, error=error),
            failure=self._failure(message, reason, error=error),
        ):
            self._failed(message, reason, outcome="failed")
            return DONE
        return AGAIN

    async def _settle_claimed(
        self,
        message: OutboundMessage,
        token: str,
        state: str,
        reason: str,
        error: GraphError,
        *,
        attempts: int,
    ) -> None:
        detail = _describe(error)
        if await self._store.settle(
            message.message_id,
            condition="token",
            token=token,
            state=state,
            fields=_reason(reason, code=error.code, error=detail),
            failure=self._failure(
                message, reason, code=error.code, error=detail, attempts=attempts
            ),
        ):
            self._failed(message, reason, outcome="unknown" if state == UNKNOWN else "failed")

    def _failed(self, message: OutboundMessage, reason: str, *, outcome: str | None) -> None:
        metrics.FAILURES.labels(reason=reason).inc()
        if outcome is not None:
            metrics.MESSAGES.labels(outcome=outcome).inc()
        log.warning(
            "outbound_not_delivered",
            message_id=message.message_id,
            conversation_id=message.conversation_id,
            to=mask_phone(message.to),
            reason=reason,
        )

    def _failure(
        self,
        message: OutboundMessage,
        reason: str,
        *,
        code: int | None = None,
        error: str = "",
        attempts: int = 0,
    ) -> dict[str, str]:
        """An entry of the failures stream, for staff: `to` is in clear there (never logged)."""
        return {
            "reason": reason,
            "message_id": message.message_id,
            "conversation_id": message.conversation_id,
            "to": message.to,
            "author": message.author,
            "code": "" if code is None else str(code),
            "error": error[:500],
            "attempts": str(attempts),
            "occurred_at": datetime.now(UTC).isoformat(),
        }

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential from `retry_base_seconds` to `retry_max_seconds`, half of it jittered;
        never sooner than Meta's Retry-After (itself capped at `retry_max_seconds`)."""
        base, ceiling = self._settings.retry_base_seconds, self._settings.retry_max_seconds
        step = min(ceiling, base * 2.0 ** max(0, attempt - 1))
        delay: float = step / 2 + self._rng.uniform(0, step / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, ceiling))
        return delay

    async def _sleep(self, seconds: float) -> bool:
        """Sleeps unless stopping; False when stopped."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not await self._wait(self._stopping, seconds)

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


def _reason(reason: str, *, code: int | None = None, error: str = "") -> dict[str, str]:
    return {
        "reason": reason,
        "error_code": "" if code is None else str(code),
        "error": error[:500],
    }


def _status_name(status: int) -> str:
    for name, value in pb.ConversationStatus.items():
        if value == status:
            return name
    return str(status)


def _describe(error: GraphError) -> str:
    text = error.message
    if error.details and error.details not in text:
        text = f"{text}: {error.details}"
    return text[:500]


def _order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    try:
        return int(milliseconds), int(sequence or 0)
    except ValueError:
        return 0, 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
