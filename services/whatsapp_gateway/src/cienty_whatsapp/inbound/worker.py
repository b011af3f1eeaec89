"""The inbound worker: the webhook's stream entries → conversations, in order, exactly once in
effect, nothing lost.

Ordering. The webhook appends each chat's updates to one of `CIENTY_INBOUND_PARTITIONS` streams
(`keys.inbound_stream(p)`, by a hash of the `wa_id`). A partition is worked by exactly one worker
at a time: the one holding its lease (`leases.PartitionLeases`: SET NX PX, renewed every third of
the lease while working, deleted on a clean stop). Workers share the partitions, each holding its
fair share of them (`leases.fair_share`), so replicas spread and take over from a dead one once
its leases expire. Within a partition, entries are grouped by chat into lanes: different chats
are processed concurrently, one chat's entries strictly one after the other in stream order. A
failing message blocks only the later messages of its own chat, which wait while it is retried.
Statuses of a chat go through a lane of their own (they are applied in any order with the same
result, and must not wait behind a slow agent turn).

Delivery. Each partition stream has the consumer group `keys.INBOUND_GROUP` (created from id 0
with MKSTREAM). On taking a partition, the worker first claims every entry pending in the group
(XAUTOCLAIM to itself, whoever read it: the lease says no one else is working it, so these are a
dead or departed worker's in-flight entries) and queues them, in stream order, ahead of new
entries (XREADGROUP `>`), which all come later in the stream. While it holds a partition it also
sweeps, on every maintenance tick, for entries pending under another consumer's name (read by a
worker just as its lease ran out) and takes them too. An entry is acknowledged (XACK) only after
its effects are committed: HandleMessage returned (media stored before it), the status written,
the flood reply queued, or the entry written to the dead-letter stream (in the same MULTI as the
XACK). Anything in between is redone after a crash, which is safe: HandleMessage is idempotent on
the wamid, statuses and the window are monotonic, media writes are idempotent.

Retries. Attempts are counted in Redis (`ATTEMPTS_KEY`, per partition, field = entry id, counted
when an attempt starts), so the count survives a crash and a message that kills its worker every
time still ends in the dead-letter stream. A failed attempt (a transient gRPC code, a media
download that failed, any unexpected error) is retried after an exponential backoff with jitter
(`CIENTY_RETRY_BASE_SECONDS` doubling up to `CIENTY_RETRY_MAX_SECONDS`); after
`CIENTY_MAX_ATTEMPTS` attempts, or at once for a permanent gRPC code (INVALID_ARGUMENT,
NOT_FOUND, FAILED_PRECONDITION...), the entry goes to `keys.DEAD_LETTER_STREAM` with the item,
the error and the attempts (for staff) and is acknowledged, and its chat goes on. Redis errors
are not failures of the message: the worker backs off and resumes where it was; a Redis restart
(with its append-only file) loses nothing, since entries stay pending until acknowledged.

Messages. See `_handle_message`: the window key, reactions (recorded on the reacted message,
not forwarded: a 👍 must not cost an agent turn, nor read as the "sim" of a two-step order),
flood protection (`flood`), media (`media`), the `InboundMessage` (`render`), HandleMessage with
`CIENTY_HANDLE_DEADLINE_SECONDS`, then the read receipt (best effort). The agent's reply is not
sent from here: conversations queues it on `conversations.outbound` for the outbound sender.

Stale messages (older than `CIENTY_STALE_MESSAGE_HOURS`): forwarded, so staff see them, with a
note saying when they were sent (`render.stale_note`). conversations has no way yet to record a
message without an agent turn; the note keeps the agent from answering it as a fresh question.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import grpc
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty_kit.logging import get_logger
from cienty_kit.phones import mask_phone
from cienty_whatsapp import keys
from cienty_whatsapp.conversations import TRANSIENT
from cienty_whatsapp.inbound import metrics, render
from cienty_whatsapp.inbound.flood import FloodDecision, FloodGuard, polite_reply_entry
from cienty_whatsapp.inbound.leases import PartitionLeases, fair_share
from cienty_whatsapp.inbound.media import GraphMedia, MediaStore, MediaUnavailable, fetch_media
from cienty_whatsapp.inbound.statuses import DeliveryTracker
from cienty_whatsapp.inbound.window import Window
from cienty_whatsapp.items import InboundItem
from cienty_whatsapp.settings import GatewaySettings

log = get_logger(__name__)

T = TypeVar("T")

# Also worth another try: a rotated or misconfigured service token must not send every message
# to the dead-letter stream at once (they still do after CIENTY_MAX_ATTEMPTS).
RETRYABLE_CODES = TRANSIENT | {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def attempts_key(partition: int) -> str:
    return keys.inbound_attempts(partition)


class Conversations(Protocol):
    async def handle(self, message: pb.InboundMessage, *, deadline: float) -> pb.AgentReply: ...


class Graph(GraphMedia, Protocol):
    async def mark_read(self, wamid: str) -> None: ...


class _Permanent(Exception):
    """Retrying will not help: dead-letter at once."""


class _Transient(Exception):
    """Worth another attempt after a backoff."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(eq=False)
class _Entry:
    partition: int
    entry_id: str
    raw: str  # the `item` field as the webhook wrote it
    item: InboundItem | None
    problem: str = ""  # why the entry could not be read
    # Decided once per entry in this process: a retry does not take a second token.
    flood: FloodDecision | None = None
    lag_observed: bool = False

    @property
    def kind(self) -> str:
        return self.item.kind if self.item is not None else "malformed"


@dataclass(eq=False)
class _Lane:
    key: str
    entries: deque[_Entry] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Partition:
    number: int
    renewed_at: float  # monotonic time of the last successful take or renewal
    claimed: bool = False  # the takeover claim is done
    active: bool = True  # False once it is being given up: nothing new is queued
    lanes: dict[str, _Lane] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)  # entry ids in lanes, not yet finished

    @property
    def stream(self) -> str:
        return keys.inbound_stream(self.number)

    def tasks(self) -> list[asyncio.Task[None]]:
        return [lane.task for lane in self.lanes.values() if lane.task is not None]


class InboundWorker:
    """Works inbound partitions until `stop()`; see the module's docstring for the design.

    `consumer` names this worker in the consumer groups and must be unique among live workers
    (e.g. the pod name). Knobs that are not settings (yet) are keyword arguments: the lease
    length, the most partitions one worker takes, how many entries of a partition may be queued
    at once, how many messages are processed at once, how long a clean stop waits for messages
    in progress.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        redis: Redis,
        conversations: Conversations,
        graph: Graph,
        media: MediaStore,
        *,
        consumer: str,
        lease_seconds: float = 15.0,
        max_partitions: int | None = None,
        max_queued_per_partition: int = 200,
        concurrency: int = 64,
        block_ms: int = 1000,
        drain_seconds: float = 10.0,
        mark_read_timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not consumer:
            raise ValueError("consumer is required")
        self.settings = settings
        self.redis = redis
        self.conversations = conversations
        self.graph = graph
        self.media = media
        self.consumer = consumer
        self._partitions_total = settings.inbound_partitions
        self._max_partitions = max_partitions or settings.inbound_partitions
        self._max_queued = max(1, max_queued_per_partition)
        self._block_ms = block_ms
        self._drain_seconds = drain_seconds
        self._mark_read_timeout = mark_read_timeout_seconds
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._tick = lease_seconds / 3
        self.leases = PartitionLeases(
            redis, f"{consumer}:{uuid.uuid4().hex[:12]}", lease_ms=int(lease_seconds * 1000)
        )
        self._flood = FloodGuard(
            redis, burst=settings.flood_burst, per_minute=settings.flood_per_minute
        )
        self._window = Window(redis)
        self._deliveries = DeliveryTracker(redis)
        self._partitions: dict[int, _Partition] = {}
        self._semaphore = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()  # a lane finished an entry (capacity freed)
        self._finished = 0
        self._groups_ready: set[int] = set()
        self._offset = random.randrange(self._partitions_total)

    # ------------------------------------------------------------------ lifecycle

    @property
    def partitions(self) -> list[int]:
        """The partitions this worker holds now."""
        return sorted(self._partitions)

    def stop(self) -> None:
        """Asks `run()` to finish: no new entries, messages in progress get `drain_seconds`,
        then leases are given back. Entries not finished stay pending for the next holder."""
        self._stopping.set()

    async def run(self) -> None:
        """Works until `stop()`. Cancelling it abandons everything at once, as a crash would
        (the leases expire; the next holder redoes what was in progress)."""
        reader = asyncio.create_task(self._read_loop(), name=f"inbound-reader-{self.consumer}")
        try:
            backoff = 0.1
            while not self._stopping.is_set():
                _checkpoint()
                try:
                    await self._maintain()
                    backoff = 0.1
                    delay = self._tick
                except (RedisError, OSError) as error:
                    log.warning("inbound_redis_unavailable", error=str(error), retry_in=backoff)
                    await self._expire_unrenewed()
                    delay, backoff = backoff, min(backoff * 2, self._tick)
                await self._sleep(delay)
        except asyncio.CancelledError:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._abandon_all()
            raise
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await self._shutdown()

    async def process_once(self) -> int:
        """One pass, for tests and tools: takes free partitions, claims their pending entries,
        reads everything there is now and processes it to the end (retries included); returns
        how many entries were finished (acknowledged)."""
        finished_before = self._finished
        await self._maintain()
        while True:
            _checkpoint()
            self._progress.clear()
            queued = await self._pump(block_ms=None)
            if queued:
                continue
            if any(self._capacity(p) == 0 for p in self._partitions.values()):
                await self._progress.wait()
                continue
            break
        await self._wait_lanes()
        return self._finished - finished_before

    async def _shutdown(self) -> None:
        for part in self._partitions.values():
            part.active = False
        tasks = [t for part in self._partitions.values() for t in part.tasks()]
        if tasks:
            await asyncio.wait(tasks, timeout=self._drain_seconds)
        for number in list(self._partitions):
            await self._give_up(number, release=True)
        try:
            await self.leases.withdraw()
        except (RedisError, OSError):
            pass
        log.info("inbound_worker_stopped", consumer=self.consumer)

    async def _abandon_all(self) -> None:
        for number in list(self._partitions):
            await self._give_up(number, release=False)

    # ------------------------------------------------------------------ partitions

    async def _maintain(self) -> None:
        """Announces this worker, renews its leases, gives back what exceeds its share, takes
        free partitions up to it, and sweeps its partitions for orphaned pending entries."""
        live = await self.leases.announce(int(time.time() * 1000))
        target = fair_share(self._partitions_total, live, self._max_partitions)
        now = time.monotonic()
        lost = await self.leases.renew(self._partitions)
        for number, part in list(self._partitions.items()):
            if number in lost:
                log.warning("inbound_lease_lost", partition=number, consumer=self.consumer)
                await self._give_up(number, release=False)
            else:
                part.renewed_at = now
        surplus = len(self._partitions) - target
        if surplus > 0:
            # Give back those with the least work queued first.
            for part in sorted(self._partitions.values(), key=lambda p: len(p.queued))[:surplus]:
                log.info("inbound_partition_given_back", partition=part.number, target=target)
                await self._give_up(part.number, release=True)
        elif surplus < 0 and not self._stopping.is_set():
            candidates = [
                (self._offset + n) % self._partitions_total for n in range(self._partitions_total)
            ]
            free = [p for p in candidates if p not in self._partitions]
            for number in await self.leases.acquire(free, -surplus):
                self._partitions[number] = _Partition(number, renewed_at=time.monotonic())
                metrics.PARTITIONS_HELD.inc()
                log.info("inbound_partition_taken", partition=number, consumer=self.consumer)
        for part in list(self._partitions.values()):
            if part.claimed and part.active:
                await self._sweep(part)

    async def _expire_unrenewed(self) -> None:
        """While Redis is unreachable the leases cannot be renewed: past their length they may
        be someone else's (after a Redis failover), so their work is dropped here."""
        now = time.monotonic()
        for number, part in list(self._partitions.items()):
            if now - part.renewed_at > self._lease_seconds:
                log.warning("inbound_lease_expired_unrenewed", partition=number)
                await self._give_up(number, release=False)

    async def _give_up(self, number: int, *, release: bool) -> None:
        """Stops working a partition: its lanes are cancelled (their entries stay pending for
        the next holder) and, when `release`, its lease is deleted so another takes it now."""
        part = self._partitions.get(number)
        if part is None:
            return
        part.active = False
        tasks = part.tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._partitions.pop(number, None)
        metrics.PARTITIONS_HELD.dec()
        self._progress.set()
        if release:
            try:
                await self.leases.release(number)
            except (RedisError, OSError) as error:
                log.warning("inbound_lease_release_failed", partition=number, error=str(error))

    async def _ensure_group(self, part: _Partition) -> None:
        if part.number in self._groups_ready:
            return
        try:
            await self.redis.xgroup_create(part.stream, keys.INBOUND_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups_ready.add(part.number)

    async def _claim(self, part: _Partition, *, min_idle_ms: int = 0) -> int:
        """Takes every entry pending in the partition's group (in stream order) and queues those
        not queued already; returns how many were queued."""
        queued = 0
        cursor = "0-0"
        while True:
            response: Any = await self.redis.xautoclaim(
                part.stream, keys.INBOUND_GROUP, self.consumer, min_idle_ms, cursor, count=100
            )
            cursor = _text(response[0])
            for entry_id, fields in response[1]:
                if entry_id is None:  # deleted from the stream while pending
                    continue
                queued += self._queue(part, _text(entry_id), fields)
            if cursor == "0-0":
                return queued

    async def _sweep(self, part: _Partition) -> None:
        """Entries pending under another consumer's name in a partition we hold were read by a
        worker whose lease ran out meanwhile: take them."""
        summary: Any = await self.redis.xpending(part.stream, keys.INBOUND_GROUP)
        others = [
            c
            for c in summary.get("consumers") or []
            if _text(c.get("name")) != self.consumer and int(c.get("pending") or 0) > 0
        ]
        if others:
            taken = await self._claim(part)
            if taken:
                log.warning("inbound_orphans_taken", partition=part.number, entries=taken)

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        backoff = 0.1
        while True:
            _checkpoint()
            try:
                self._progress.clear()
                queued = await self._pump(block_ms=self._block_ms)
                backoff = 0.1
                if not queued and not self._readable():
                    # Nothing held, or every held partition is full: wait for room.
                    await _wait(self._progress, self._tick)
            except (RedisError, OSError) as error:
                log.warning("inbound_read_failed", error=str(error), retry_in=backoff)
                if isinstance(error, ResponseError) and "NOGROUP" in str(error):
                    # Redis came back without its data: start over (groups created again,
                    # partitions taken again).
                    self._groups_ready.clear()
                    for number in list(self._partitions):
                        await self._give_up(number, release=True)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _capacity(self, part: _Partition) -> int:
        return max(0, self._max_queued - len(part.queued))

    def _readable(self) -> list[_Partition]:
        return [
            p for p in self._partitions.values() if p.active and p.claimed and self._capacity(p) > 0
        ]

    async def _pump(self, *, block_ms: int | None) -> int:
        """Claims what newly taken partitions have pending, then reads new entries of every
        partition with room (blocking up to `block_ms`); returns how many entries were queued."""
        queued = 0
        for part in list(self._partitions.values()):
            if part.active and not part.claimed:
                await self._ensure_group(part)
                queued += await self._claim(part)
                part.claimed = part.active
        readable = self._readable()
        if not readable:
            return queued
        by_stream = {p.stream: p for p in readable}
        response: Any = await self.redis.xreadgroup(
            keys.INBOUND_GROUP,
            self.consumer,
            {p.stream: ">" for p in readable},
            count=min(self._capacity(p) for p in readable),
            block=block_ms,
        )
        for stream, entries in response or []:
            part = by_stream[_text(stream)]
            current = self._partitions.get(part.number)
            if current is not part or not part.active:
                # Given up while reading: left pending for the next holder (its sweep).
                continue
            for entry_id, fields in entries:
                queued += self._queue(part, _text(entry_id), fields)
        return queued

    def _queue(self, part: _Partition, entry_id: str, fields: Any) -> int:
        if entry_id in part.queued or not part.active:
            return 0
        entry = _parse(part.number, entry_id, fields)
        if entry.item is None:
            key = f"malformed:{entry_id}"
        elif entry.item.kind == "status":
            key = f"status:{entry.item.wa_id}"
        else:
            key = f"chat:{entry.item.wa_id}"
        lane = part.lanes.get(key)
        if lane is None:
            lane = part.lanes[key] = _Lane(key)
        lane.entries.append(entry)
        part.queued.add(entry_id)
        if lane.task is None:
            lane.task = asyncio.create_task(self._run_lane(part, lane), name=f"inbound-{key}")
        return 1

    # ------------------------------------------------------------------ lanes

    async def _run_lane(self, part: _Partition, lane: _Lane) -> None:
        """One chat's entries, one after the other."""
        try:
            while lane.entries and part.active and not self._stopping.is_set():
                _checkpoint()
                entry = lane.entries[0]
                try:
                    if not await self._work(part, entry):
                        return  # stopping: the entry stays pending
                except Exception:
                    # Redis refused a step (`_redis_call`): never let the chat's lane die;
                    # the entry is attempted again (every step is safe to redo).
                    log.exception("inbound_lane_error", entry=entry.entry_id)
                    if await self._sleep(1.0):
                        return
                    continue
                lane.entries.popleft()
                part.queued.discard(entry.entry_id)
                self._finished += 1
                self._progress.set()
        finally:
            lane.task = None
            if not lane.entries and part.lanes.get(lane.key) is lane:
                del part.lanes[lane.key]

    async def _work(self, part: _Partition, entry: _Entry) -> bool:
        """Attempts the entry until it is finished (acknowledged: done or dead-lettered).
        False when the worker stops first."""
        attempts = attempts_key(part.number)
        while True:
            _checkpoint()
            attempt = int(
                await self._redis_call(lambda: self.redis.hincrby(attempts, entry.entry_id, 1))
            )
            if not entry.lag_observed:
                entry.lag_observed = True
                metrics.LAG_SECONDS.observe(max(0.0, self._clock() - _entry_time(entry.entry_id)))
            if attempt > self.settings.max_attempts:
                # Attempts that never finished (the worker died in them) count too.
                last: Any = await self._redis_call(
                    lambda: self.redis.hget(attempts, f"{entry.entry_id}:error")
                )
                error = _text(last) if last else "the last attempts never finished (worker crash?)"
                await self._dead_letter(part, entry, error, attempt - 1, reason="attempts")
                return True
            try:
                async with self._semaphore:
                    outcome = await self._attempt(entry, attempt)
            except _Permanent as error:
                await self._dead_letter(part, entry, str(error), attempt, reason="permanent")
                return True
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                # Redis is unreachable, not the message's fault: resume once it answers.
                log.warning("inbound_redis_error", entry=entry.entry_id, error=str(error))
                if await self._sleep(min(1.0, self.settings.retry_base_seconds)):
                    return False
                continue
            except Exception as error:
                reason = error.reason if isinstance(error, _Transient) else "error"
                message = str(error) or type(error).__name__
                if attempt >= self.settings.max_attempts:
                    await self._dead_letter(part, entry, message, attempt, reason="attempts")
                    return True
                if not isinstance(error, _Transient):
                    log.exception("inbound_attempt_error", entry=entry.entry_id)
                metrics.RETRIES.labels(reason=reason).inc()
                delay = self._backoff(attempt)
                log.warning(
                    "inbound_attempt_failed",
                    partition=part.number,
                    entry=entry.entry_id,
                    attempt=attempt,
                    error=message,
                    retry_in=round(delay, 3),
                    **_who(entry),
                )
                try:
                    await self.redis.hset(attempts, f"{entry.entry_id}:error", message[:1000])
                except (RedisError, OSError):
                    pass
                if await self._sleep(delay):
                    return False
                continue
            _checkpoint()
            await self._commit(part, entry, outcome)
            return True

    def _backoff(self, attempt: int) -> float:
        """Exponential, with jitter: between half and all of base * 2^(attempt - 1), capped."""
        ceiling: float = min(
            self.settings.retry_max_seconds,
            self.settings.retry_base_seconds * 2.0 ** min(attempt - 1, 60),
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def _commit(self, part: _Partition, entry: _Entry, outcome: str) -> None:
        async def ack() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(part.stream, keys.INBOUND_GROUP, entry.entry_id)
                pipe.hdel(attempts_key(part.number), entry.entry_id, f"{entry.entry_id}:error")
                await pipe.execute()

        await self._redis_call(ack)
        metrics.PROCESSED.labels(kind=entry.kind, outcome=outcome).inc()

    async def _dead_letter(
        self, part: _Partition, entry: _Entry, error: str, attempts: int, *, reason: str
    ) -> None:
        item = entry.item
        fields = {
            "item": entry.raw,
            "error": error[:2000],
            "attempts": str(attempts),
            "kind": entry.kind,
            "wa_id": item.wa_id if item else "",
            "wamid": item.id if item else "",
            "stream": part.stream,
            "entry_id": entry.entry_id,
            "consumer": self.consumer,
            "dead_at": datetime.now(UTC).isoformat(),
        }

        async def move() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(keys.DEAD_LETTER_STREAM, fields)  # type: ignore[arg-type]
                pipe.xack(part.stream, keys.INBOUND_GROUP, entry.entry_id)
                pipe.hdel(attempts_key(part.number), entry.entry_id, f"{entry.entry_id}:error")
                await pipe.execute()

        await self._redis_call(move)
        metrics.DEAD_LETTERS.labels(reason=reason).inc()
        metrics.PROCESSED.labels(kind=entry.kind, outcome="dead_letter").inc()
        log.error(
            "inbound_dead_letter",
            partition=part.number,
            entry=entry.entry_id,
            attempts=attempts,
            error=error[:500],
            **_who(entry),
        )

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, entry: _Entry, attempt: int) -> str:
        """Returns the outcome; raises `_Permanent`, `_Transient`, Redis errors or anything."""
        if entry.item is None:
            raise _Permanent(f"unreadable stream entry: {entry.problem}")
        if entry.item.kind == "status":
            outcome = await self._deliveries.apply(entry.item)
            metrics.STATUSES.labels(status=entry.item.status or "?", outcome=outcome.value).inc()
            return outcome.value
        return await self._handle_message(entry, entry.item, attempt)

    async def _handle_message(self, entry: _Entry, item: InboundItem, attempt: int) -> str:
        # 1. The customer wrote: the 24-hour window runs from this message (before the agent's
        #    reply can reach the sender).
        await self._window.touch(item.wa_id, item.timestamp, now=self._clock())
        # 2. Reactions are recorded on the reacted message, not forwarded.
        if item.type == "reaction":
            linked = await self._deliveries.record_reaction(item)
            return "reaction" if linked else "reaction_unlinked"
        # 3. Flood protection: once per entry.
        if entry.flood is None:
            entry.flood = await self._flood.take(item.wa_id, now=self._clock())
        if entry.flood is not FloodDecision.ALLOW:
            if entry.flood is FloodDecision.DROP_AND_NOTIFY:
                await self.redis.xadd(
                    self.settings.outbound_stream,
                    polite_reply_entry(item.wa_id, item.id),  # type: ignore[arg-type]
                )
                entry.flood = FloodDecision.DROP  # queued: a retry of the ack does not repeat it
                metrics.FLOOD_REPLIES.inc()
            metrics.FLOOD_DROPS.inc()
            log.warning("inbound_flood_dropped", wamid=item.id, **_who(entry))
            return "flooded"
        # 4. Media, before HandleMessage: the URLs expire within minutes.
        unavailable: dict[str, str] = {}
        for ref in item.media:
            try:
                stored = await fetch_media(self.graph, self.media, ref)
            except MediaUnavailable as error:
                if not error.permanent and attempt < self.settings.max_attempts:
                    metrics.MEDIA.labels(outcome="retry").inc()
                    raise _Transient(error.reason, "media") from error
                # Given up: the message goes on without the file, and says so.
                metrics.MEDIA.labels(outcome="unavailable").inc()
                log.warning("inbound_media_unavailable", media=ref.id, error=error.reason)
                unavailable[ref.id] = error.reason
            else:
                metrics.MEDIA.labels(outcome="stored").inc()
                log.info("inbound_media_stored", media=ref.id, size=stored.size)
        # 5. The agent (or staff) gets it.
        stale = self._clock() - item.timestamp > self.settings.stale_message_hours * 3600
        message = render.inbound_message(item, unavailable=unavailable, stale=stale)
        _checkpoint()
        started = time.monotonic()
        try:
            reply = await self.conversations.handle(
                message, deadline=self.settings.handle_deadline_seconds
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            metrics.HANDLE_SECONDS.labels(code=code.name).observe(time.monotonic() - started)
            text = f"HandleMessage: {code.name}: {error.details() or ''}"
            if code in RETRYABLE_CODES:
                raise _Transient(text, f"grpc_{code.name.lower()}") from error
            raise _Permanent(text) from error
        metrics.HANDLE_SECONDS.labels(code="OK").observe(time.monotonic() - started)
        if stale:
            metrics.STALE.inc()
        # 6. Blue ticks: best effort, never retried.
        try:
            async with asyncio.timeout(self._mark_read_timeout):
                await self.graph.mark_read(item.id)
        except Exception as error:
            metrics.MARK_READ_FAILURES.inc()
            log.warning("inbound_mark_read_failed", wamid=item.id, error=str(error) or repr(error))
        log.info(
            "inbound_message_handled",
            wamid=item.id,
            conversation_id=reply.conversation_id,
            handed_off=reply.handed_off,
            attempt=attempt,
            **_who(entry),
        )
        return "stale" if stale else "handled"

    # ------------------------------------------------------------------ helpers

    async def _wait_lanes(self) -> None:
        while True:
            tasks = [t for part in self._partitions.values() for t in part.tasks()]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, seconds: float) -> bool:
        """Sleeps, or less if the worker is stopping; True when it is."""
        return await _wait(self._stopping, seconds)

    async def _redis_call(self, call: Callable[[], Awaitable[T]]) -> T:
        """Runs a Redis step until Redis is reachable (backing off; a Redis that is loading its
        data counts as unreachable); cancelling the lane ends it."""
        backoff = 0.05
        while True:
            _checkpoint()
            try:
                result = await call()
                _checkpoint()
                return result
            except ResponseError:
                raise  # Redis answered: trying the same again will not help
            except (RedisError, OSError) as error:
                log.warning("inbound_redis_retry", error=str(error), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)


def _checkpoint() -> None:
    """Raises the cancellation a library swallowed. redis-py awaits `asyncio.wait_for`, which
    on Python 3.11 returns normally when the task is cancelled just as the awaited call
    completes: the task is still `cancelling()`, so the cancellation (a lost lease, a shutdown,
    a kill in the tests) is honoured here, at the next step, instead of never."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Waits for the event up to `seconds`; True when it is set (no `asyncio.wait_for`: see
    `_checkpoint`)."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _parse(partition: int, entry_id: str, fields: Any) -> _Entry:
    raw: Any = None
    if isinstance(fields, dict):
        raw = fields.get(b"item", fields.get("item"))
    text = _text(raw) if raw is not None else ""
    if not text:
        return _Entry(partition, entry_id, text, None, problem="no `item` field")
    try:
        item = InboundItem.from_json(text)
    except (ValueError, TypeError, KeyError) as error:
        return _Entry(partition, entry_id, text, None, problem=f"{type(error).__name__}: {error}")
    return _Entry(partition, entry_id, text, item)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_time(entry_id: str) -> float:
    """A stream entry id starts with the milliseconds of its append."""
    try:
        return int(entry_id.split("-", 1)[0]) / 1000
    except ValueError:
        return time.time()


def _who(entry: _Entry) -> dict[str, str]:
    """The chat, masked for the logs."""
    if entry.item is None:
        return {}
    return {"phone": mask_phone("+" + entry.item.wa_id.lstrip("+"))}


def dead_letter_item(fields: dict[Any, Any]) -> InboundItem:
    """The item of a dead-letter entry (for tools that show or replay them)."""
    return InboundItem.from_json(_text(fields.get(b"item", fields.get("item", ""))))


__all__ = ["Conversations", "Graph", "InboundWorker", "attempts_key", "dead_letter_item"]
