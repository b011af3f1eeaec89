"""The inbound worker against real Redis, the stand-in Graph API (in-process) and a scriptable
conversations client: ordering per chat, retries, dead letters, a killed worker, a Redis restart,
media, flood protection, statuses and the customer-service window.

Items are written to the partition streams exactly as the webhook writes them
(`{"item": item.to_json()}` on `keys.inbound_stream(item.partition(partitions))`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from cienty.conversations.v1 import conversations_pb2 as pb
from cienty_dev.embedded import EmbeddedRedis
from cienty_kit.redis import create_redis
from cienty_whatsapp import keys
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.inbound import FileMediaStore, InboundWorker, link_wamid
from cienty_whatsapp.inbound.flood import POLITE_REPLY
from cienty_whatsapp.inbound.worker import attempts_key
from cienty_whatsapp.items import DeliveryError, InboundItem, MediaRef
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState, create_graph_api

# Its own database of the session's Redis: flushing it leaves the other suites' data alone.
INBOUND_REDIS_DB = 10
PARTITIONS = 4
TOKEN = "inbound-test-access-token"


# --------------------------------------------------------------------------- fakes


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


@dataclass
class Call:
    message: pb.InboundMessage
    ok: bool = False


class FakeConversations:
    """`handle` as `ConversationsClient` has it: records every call, and can be told to fail
    (per wamid, a queue of status codes, or always), to wait (per wamid, its first call waits
    on an event) or to take some time (`latency`)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.completed: list[pb.InboundMessage] = []  # successful calls, in completion order
        self.failures: dict[str, deque[grpc.StatusCode]] = defaultdict(deque)
        self.always_fail: dict[str, grpc.StatusCode] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.latency: Callable[[pb.InboundMessage], float] = lambda _: 0.0
        self.on_call: Callable[[pb.InboundMessage], None] | None = None
        self.deadlines: list[float] = []
        self._active: dict[str, int] = defaultdict(int)
        self.overlap_within_chat = False
        self.max_chats_at_once = 0

    async def handle(self, message: pb.InboundMessage, *, deadline: float) -> pb.AgentReply:
        call = Call(message)
        self.calls.append(call)
        self.deadlines.append(deadline)
        chat = message.from_phone
        self._active[chat] += 1
        self.overlap_within_chat |= self._active[chat] > 1
        self.max_chats_at_once = max(
            self.max_chats_at_once, sum(1 for n in self._active.values() if n)
        )
        try:
            self.entered[message.external_id].set()
            if self.on_call is not None:
                self.on_call(message)
            gate = self.gates.pop(message.external_id, None)
            if gate is not None:
                await gate.wait()
            delay = self.latency(message)
            if delay:
                await asyncio.sleep(delay)
            if message.external_id in self.always_fail:
                raise rpc_error(self.always_fail[message.external_id], "scripted")
            queue = self.failures.get(message.external_id)
            if queue:
                raise rpc_error(queue.popleft(), "scripted")
            call.ok = True
            self.completed.append(message)
            return pb.AgentReply(conversation_id=f"conversation-{chat}")
        finally:
            self._active[chat] -= 1

    def calls_of(self, wamid: str) -> int:
        return sum(1 for c in self.calls if c.message.external_id == wamid)

    def completed_ids(self, chat: str | None = None) -> list[str]:
        return [m.external_id for m in self.completed if chat is None or m.from_phone == chat]


class FlakyTransport(httpx.AsyncBaseTransport):
    """The stand-in Graph API in-process; the next requests whose path contains a fragment
    answer 503 (`fail(fragment, times)`)."""

    def __init__(self, state: GraphState) -> None:
        self._inner = httpx.ASGITransport(app=create_graph_api(state))
        self._failures: dict[str, int] = {}
        self.requests: list[str] = []

    def fail(self, fragment: str, times: int) -> None:
        self._failures[fragment] = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        for fragment, left in self._failures.items():
            if left and fragment in request.url.path:
                self._failures[fragment] = left - 1
                return httpx.Response(503, json={"error": {"code": 1, "message": "down"}})
        return await self._inner.handle_async_request(request)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- fixtures


def make_settings(redis_url: str, media_dir: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "redis_url": redis_url,
        "whatsapp_access_token": TOKEN,
        "inbound_partitions": PARTITIONS,
        "handle_deadline_seconds": 7.5,
        "max_attempts": 4,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.04,
        "flood_burst": 1000,
        "flood_per_minute": 1000.0,
        "media_dir": str(media_dir),
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
def inbound_redis_url(redis_server: EmbeddedRedis) -> str:
    return f"redis://127.0.0.1:{redis_server.port}/{INBOUND_REDIS_DB}"


@pytest.fixture
async def inbound_redis(inbound_redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(inbound_redis_url, socket_timeout=5, socket_connect_timeout=2)
    await redis.flushdb()
    yield redis
    await redis.flushdb()
    await redis.aclose()


@pytest.fixture
def settings(inbound_redis_url: str, tmp_path: Path) -> GatewaySettings:
    return make_settings(inbound_redis_url, tmp_path / "media")


@pytest.fixture
def fake() -> FakeConversations:
    return FakeConversations()


@pytest.fixture
def graph_state() -> GraphState:
    return GraphState(access_token=TOKEN)


@pytest.fixture
def transport(graph_state: GraphState) -> FlakyTransport:
    return FlakyTransport(graph_state)


@pytest.fixture
async def graph(transport: FlakyTransport) -> AsyncIterator[GraphClient]:
    client = GraphClient(
        f"http://graph.test/{VERSION}", "100000000000001", TOKEN, transport=transport
    )
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


WorkerFactory = Callable[..., InboundWorker]


@pytest.fixture
def make_worker(
    settings: GatewaySettings,
    inbound_redis: Redis,
    fake: FakeConversations,
    graph: GraphClient,
    clock: Clock,
) -> WorkerFactory:
    def make(
        consumer: str = "worker-1",
        *,
        redis: Redis | None = None,
        worker_settings: GatewaySettings | None = None,
        **options: Any,
    ) -> InboundWorker:
        chosen = worker_settings or settings
        options.setdefault("lease_seconds", 1.0)
        options.setdefault("block_ms", 50)
        options.setdefault("clock", clock)
        return InboundWorker(
            chosen,
            redis or inbound_redis,
            fake,
            graph,
            FileMediaStore(chosen.media_dir),
            consumer=consumer,
            **options,
        )

    return make


@asynccontextmanager
async def running(worker: InboundWorker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        async with asyncio.timeout(15):
            await task


# --------------------------------------------------------------------------- helpers


def phone(n: int) -> str:
    return f"55119876{n:05d}"


def message(wa_id: str, n: int, *, timestamp: float | None = None, **fields: Any) -> InboundItem:
    values: dict[str, Any] = {
        "kind": "message",
        "wa_id": wa_id,
        "id": f"wamid.{wa_id}.{n}",
        "timestamp": int(timestamp if timestamp is not None else time.time()),
        "phone_number_id": "100000000000001",
        "type": "text",
        "profile_name": "Farmácia Teste",
        "text": f"mensagem {n}",
    }
    values.update(fields)
    return InboundItem(**values)


def status(
    wamid: str, name: str, *, wa_id: str = phone(1), timestamp: int = 0, **fields: Any
) -> InboundItem:
    return InboundItem(
        kind="status",
        wa_id=wa_id,
        id=wamid,
        timestamp=timestamp or int(time.time()),
        status=name,
        **fields,
    )


async def append(redis: Redis, *items: InboundItem, partitions: int = PARTITIONS) -> None:
    """As the webhook does: one entry `{"item": json}` on the chat's partition stream."""
    for item in items:
        await redis.xadd(keys.inbound_stream(item.partition(partitions)), {"item": item.to_json()})


async def eventually(condition: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def pending(redis: Redis, partitions: int = PARTITIONS) -> int:
    total = 0
    for p in range(partitions):
        if await redis.exists(keys.inbound_stream(p)):
            groups: Any = await redis.xinfo_groups(keys.inbound_stream(p))
            total += sum(int(g["pending"]) for g in groups)
    return total


async def dead_letters(redis: Redis) -> list[dict[str, str]]:
    entries: Any = await redis.xrange(keys.DEAD_LETTER_STREAM)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


def first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --------------------------------------------------------------------------- ordering


async def test_each_chats_messages_arrive_in_order_while_chats_are_handled_in_parallel(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    rng = random.Random(6)
    fake.latency = lambda _: rng.uniform(0, 0.01)
    chats = [phone(n) for n in range(20)]
    sent = {chat: [message(chat, n) for n in range(10)] for chat in chats}
    # Interleaved across chats as a busy webhook would append them, each chat's in order.
    cursors = dict.fromkeys(chats, 0)
    order: list[InboundItem] = []
    while len(order) < 200:
        chat = rng.choice([c for c in chats if cursors[c] < 10])
        order.append(sent[chat][cursors[chat]])
        cursors[chat] += 1

    worker = make_worker()
    async with running(worker):
        for start in range(0, 200, 40):  # in batches, while the worker runs
            await append(inbound_redis, *order[start : start + 40])
            await asyncio.sleep(0.01)
        await eventually(lambda: len(fake.completed) == 200)

    for chat in chats:
        assert fake.completed_ids(chat) == [m.id for m in sent[chat]]
    assert not fake.overlap_within_chat
    assert fake.max_chats_at_once > 1
    assert len(fake.calls) == 200  # no duplicates without a crash
    assert set(fake.deadlines) == {7.5}
    assert await pending(inbound_redis) == 0


async def test_a_chat_waits_for_its_failing_message_while_other_chats_go_on(
    make_worker: WorkerFactory,
    inbound_redis: Redis,
    fake: FakeConversations,
    settings: GatewaySettings,
) -> None:
    slow, other = phone(1), phone(2)
    fake.failures[f"wamid.{slow}.0"].extend([grpc.StatusCode.UNAVAILABLE] * 2)
    await append(inbound_redis, *(message(slow, n) for n in range(3)), message(other, 0))
    worker = make_worker(
        worker_settings=settings.model_copy(
            update={"retry_base_seconds": 0.05, "retry_max_seconds": 0.1}
        )
    )

    assert await worker.process_once() == 4

    assert fake.completed_ids(slow) == [f"wamid.{slow}.{n}" for n in range(3)]
    assert fake.calls_of(f"wamid.{slow}.0") == 3
    # The other chat did not wait for the retries.
    assert fake.completed_ids().index(f"wamid.{other}.0") < fake.completed_ids().index(
        f"wamid.{slow}.0"
    )
    assert await dead_letters(inbound_redis) == []
    assert await pending(inbound_redis) == 0
    for p in range(PARTITIONS):
        assert await inbound_redis.hlen(attempts_key(p)) == 0


async def test_a_permanent_error_goes_to_the_dead_letter_stream_and_the_chat_goes_on(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    chat = phone(3)
    items = [message(chat, n) for n in range(3)]
    fake.failures[items[1].id].append(grpc.StatusCode.INVALID_ARGUMENT)
    await append(inbound_redis, *items)
    before = metric("cienty_whatsapp_inbound_dead_letters_total", reason="permanent")

    assert await make_worker().process_once() == 3

    assert metric("cienty_whatsapp_inbound_dead_letters_total", reason="permanent") == before + 1
    assert fake.completed_ids(chat) == [items[0].id, items[2].id]
    assert fake.calls_of(items[1].id) == 1
    [dead] = await dead_letters(inbound_redis)
    assert InboundItem.from_json(dead["item"]) == items[1]
    assert dead["attempts"] == "1"
    assert "INVALID_ARGUMENT" in dead["error"]
    assert dead["wamid"] == items[1].id
    assert await pending(inbound_redis) == 0


async def test_a_message_that_keeps_failing_is_dead_lettered_after_max_attempts(
    make_worker: WorkerFactory,
    inbound_redis: Redis,
    fake: FakeConversations,
    settings: GatewaySettings,
) -> None:
    chat = phone(4)
    items = [message(chat, n) for n in range(2)]
    fake.always_fail[items[0].id] = grpc.StatusCode.UNAVAILABLE
    await append(inbound_redis, *items)

    assert await make_worker().process_once() == 2

    assert fake.calls_of(items[0].id) == settings.max_attempts
    assert fake.completed_ids(chat) == [items[1].id]
    [dead] = await dead_letters(inbound_redis)
    assert dead["attempts"] == str(settings.max_attempts)
    assert "UNAVAILABLE" in dead["error"]
    assert await pending(inbound_redis) == 0
    assert await inbound_redis.hlen(attempts_key(items[0].partition(PARTITIONS))) == 0


async def test_an_unreadable_entry_is_dead_lettered(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    await inbound_redis.xadd(keys.inbound_stream(0), {"item": "{not json"})
    await inbound_redis.xadd(keys.inbound_stream(0), {"other": "field"})

    assert await make_worker().process_once() == 2

    assert [d["kind"] for d in await dead_letters(inbound_redis)] == ["malformed", "malformed"]
    assert fake.calls == []


# --------------------------------------------------------------------------- crashes


async def test_a_killed_workers_message_is_taken_over_by_another_worker(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    chat = phone(5)
    items = [message(chat, n) for n in range(5)]
    fake.gates[items[2].id] = asyncio.Event()  # never set: the first worker dies in it

    first = make_worker("worker-a", lease_seconds=0.3)
    task = asyncio.create_task(first.run())
    await append(inbound_redis, *items)
    await asyncio.wait_for(fake.entered[items[2].id].wait(), timeout=10)
    task.cancel()  # killed mid-message: read, HandleMessage in flight, not acknowledged
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await task
    stream = keys.inbound_stream(items[0].partition(PARTITIONS))
    assert int((await inbound_redis.xpending(stream, keys.INBOUND_GROUP))["pending"]) >= 1
    # The dead worker's lease is still there: nobody else may take the partition yet.
    assert await inbound_redis.exists(keys.partition_lease(items[0].partition(PARTITIONS)))

    second = make_worker("worker-b", lease_seconds=0.3)
    async with running(second):
        await eventually(lambda: items[-1].id in fake.completed_ids())

    completed = fake.completed_ids(chat)
    assert first_occurrences(completed) == [m.id for m in items]  # nothing skipped, in order
    assert fake.calls_of(items[2].id) == 2  # handled again: HandleMessage is idempotent on it
    assert completed.count(items[0].id) == 1  # acknowledged ones are not redone
    assert await pending(inbound_redis) == 0


async def test_nothing_is_lost_when_redis_restarts(
    tmp_path: Path, settings: GatewaySettings, make_worker: WorkerFactory, fake: FakeConversations
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    worker_redis = create_redis(server.url, timeout_seconds=1.0)
    writer = create_redis(server.url, timeout_seconds=1.0)
    try:
        chat = phone(6)
        items = [message(chat, n) for n in range(6)]
        gate = fake.gates[items[2].id] = asyncio.Event()
        worker = make_worker(
            redis=worker_redis,
            worker_settings=settings.model_copy(update={"redis_url": server.url}),
            block_ms=100,
        )
        async with running(worker):
            await append(writer, *items[:3])
            await asyncio.wait_for(fake.entered[items[2].id].wait(), timeout=10)
            server.stop()  # HandleMessage of the third message is in flight
            gate.set()  # it returns while Redis is away: the acknowledgement must wait
            await asyncio.sleep(0.5)
            server.start()  # same port, same data directory (append-only file)
            await writer.aclose()  # its connection died with the server (the webhook's would
            writer = create_redis(server.url, timeout_seconds=1.0)  # answer 503 once)
            await append(writer, *items[3:])
            await eventually(lambda: items[-1].id in fake.completed_ids())
        assert first_occurrences(fake.completed_ids(chat)) == [m.id for m in items]
        assert await pending(writer) == 0
    finally:
        await worker_redis.aclose()
        await writer.aclose()
        server.stop()


async def test_workers_share_the_partitions_and_take_over_when_one_stops(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    first = make_worker("worker-a", lease_seconds=0.3)
    second = make_worker("worker-b", lease_seconds=0.3)
    async with running(first), running(second):
        await eventually(lambda: len(first.partitions) == len(second.partitions) == 2)
        assert set(first.partitions).isdisjoint(second.partitions)
        await append(inbound_redis, *(message(phone(n), 0) for n in range(12)))
        await eventually(lambda: len(fake.completed) == 12)
        second.stop()
        await eventually(lambda: first.partitions == list(range(PARTITIONS)))
        await append(inbound_redis, *(message(phone(n), 1) for n in range(12)))
        await eventually(lambda: len(fake.completed) == 24)
    assert len(fake.calls) == 24


# --------------------------------------------------------------------------- media


def _b64_sha256(content: bytes) -> str:
    return base64.b64encode(hashlib.sha256(content).digest()).decode()


async def test_media_is_stored_before_handle_message_and_a_failed_download_is_retried(
    make_worker: WorkerFactory,
    inbound_redis: Redis,
    fake: FakeConversations,
    graph_state: GraphState,
    transport: FlakyTransport,
    settings: GatewaySettings,
) -> None:
    content = b"\xff\xd8\xff\xe0 a prescription photo"
    graph_state.add_media("7001", "image/jpeg", content)
    transport.fail("/media-download/7001", 2)  # the URL fetch fails twice, then works
    store = FileMediaStore(settings.media_dir)
    seen_on_disk: list[bool] = []
    fake.on_call = lambda m: seen_on_disk.append(store.path("7001").exists())
    chat = phone(7)
    item = message(
        chat,
        0,
        type="image",
        text="receita",
        media=(
            MediaRef(
                id="7001",
                kind="image",
                mime_type="image/jpeg",
                sha256=_b64_sha256(content),
                caption="receita",
            ),
        ),
    )
    await append(inbound_redis, item, message(chat, 1))

    assert await make_worker().process_once() == 2

    assert seen_on_disk == [True, True]
    assert store.path("7001").read_bytes() == content
    stored = await store.get("7001")
    assert stored is not None
    assert (stored.mime_type, stored.size) == ("image/jpeg", len(content))
    [sent, after] = fake.completed
    assert sent.text == "[imagem] receita"
    assert [(m.id, m.kind, m.caption) for m in sent.media] == [("7001", "image", "receita")]
    assert after.external_id == message(chat, 1).id  # the chat waited for the download
    assert fake.calls_of(item.id) == 1  # HandleMessage only once the file was there
    assert transport.requests.count("/media-download/7001") == 3
    assert graph_state.read_receipts == [item.id, message(chat, 1).id]


async def test_media_that_cannot_be_fetched_is_forwarded_marked_unavailable(
    make_worker: WorkerFactory,
    inbound_redis: Redis,
    fake: FakeConversations,
    graph_state: GraphState,
    transport: FlakyTransport,
    settings: GatewaySettings,
) -> None:
    graph_state.add_media("8002", "image/webp", b"x" * (2 * 1024 * 1024 + 1))  # too large
    missing = message(
        phone(8), 0, type="image", text="", media=(MediaRef(id="8001", kind="image"),)
    )
    large = message(
        phone(9), 0, type="sticker", text="", media=(MediaRef(id="8002", kind="sticker"),)
    )
    await append(inbound_redis, missing, large)

    assert await make_worker().process_once() == 2

    by_id = {m.external_id: m for m in fake.completed}
    # 404 every time: retried up to the last attempt, then forwarded without the file.
    assert transport.requests.count(f"/{VERSION}/8001") == settings.max_attempts
    assert by_id[missing.id].text == "[imagem indisponível (não foi possível baixar o arquivo)]"
    assert list(by_id[missing.id].media) == []
    # Over the size limit: at once, no download.
    assert transport.requests.count("/media-download/8002") == 0
    assert by_id[large.id].text.startswith("[figurinha indisponível")
    assert fake.calls_of(missing.id) == fake.calls_of(large.id) == 1
    assert await dead_letters(inbound_redis) == []


# --------------------------------------------------------------------------- flood


async def test_a_flood_gets_one_polite_reply_and_the_extra_messages_are_not_forwarded(
    make_worker: WorkerFactory,
    inbound_redis: Redis,
    fake: FakeConversations,
    settings: GatewaySettings,
    clock: Clock,
) -> None:
    flooded = settings.model_copy(update={"flood_burst": 3, "flood_per_minute": 6.0})
    worker = make_worker(worker_settings=flooded)
    chat, calm = phone(10), phone(11)
    burst = [message(chat, n, timestamp=clock.now) for n in range(7)]
    await append(inbound_redis, *burst, message(calm, 0, timestamp=clock.now))
    drops = metric("cienty_whatsapp_inbound_flood_drops_total")

    assert await worker.process_once() == 8

    assert metric("cienty_whatsapp_inbound_flood_drops_total") == drops + 4
    assert fake.completed_ids(chat) == [m.id for m in burst[:3]]
    assert fake.completed_ids(calm) == [message(calm, 0).id]
    replies: Any = await inbound_redis.xrange(settings.outbound_stream)
    assert len(replies) == 1
    fields = {k.decode(): v.decode() for k, v in replies[0][1].items()}
    assert fields["text"] == POLITE_REPLY
    assert fields["to"] == "+" + chat
    assert (fields["channel"], fields["author"], fields["buttons"], fields["template"]) == (
        "whatsapp",
        "system",
        "[]",
        "",
    )
    assert fields["conversation_id"] == ""
    assert fields["message_id"]
    assert fields["created_at"]
    assert await dead_letters(inbound_redis) == []

    # Ten minutes later the bucket is full again; a new flood gets a new reply.
    clock.now += 600
    again = [message(chat, n, timestamp=clock.now) for n in range(10, 15)]
    await append(inbound_redis, *again)
    assert await worker.process_once() == 5
    assert fake.completed_ids(chat)[3:] == [m.id for m in again[:3]]
    assert await inbound_redis.xlen(settings.outbound_stream) == 2


# --------------------------------------------------------------------------- statuses


async def test_statuses_apply_in_any_order_and_never_go_backwards(
    make_worker: WorkerFactory, inbound_redis: Redis
) -> None:
    await inbound_redis.set(keys.wamid_to_message("wamid.OUT1"), "message-1")
    await inbound_redis.hset(keys.outbound_state("message-1"), mapping={"state": "sent"})
    await inbound_redis.set(keys.wamid_to_message("wamid.OUT2"), "message-2")
    await inbound_redis.hset(keys.outbound_state("message-2"), mapping={"state": "sent"})
    failed = status(
        "wamid.OUT2",
        "failed",
        errors=(DeliveryError(131026, "Message undeliverable", "", "Receiver is incapable"),),
    )
    await append(
        inbound_redis,
        status("wamid.OUT1", "read", timestamp=1_700_000_300),
        status("wamid.OUT1", "sent", timestamp=1_700_000_100),
        status("wamid.OUT1", "delivered", timestamp=1_700_000_200),
        status("wamid.OUT2", "sent"),
        failed,
        failed,  # a duplicate: one notice to staff
    )

    assert await make_worker().process_once() == 6

    one = await inbound_redis.hgetall(keys.outbound_state("message-1"))
    assert one[b"delivery"] == b"read"
    assert one[b"delivery_at"] == b"1700000300"
    assert one[b"state"] == b"sent"  # the sender's fields are left alone
    two = await inbound_redis.hgetall(keys.outbound_state("message-2"))
    assert two[b"delivery"] == b"failed"
    assert json.loads(two[b"delivery_error"])["code"] == 131026
    notices: Any = await inbound_redis.xrange(keys.DELIVERY_FAILURES_STREAM)
    assert len(notices) == 1
    notice = {k.decode(): v.decode() for k, v in notices[0][1].items()}
    assert (notice["reason"], notice["message_id"], notice["code"]) == (
        "delivery_failed",
        "message-2",
        "131026",
    )
    assert notice["to"] == "+" + phone(1)


async def test_a_status_before_the_mapping_is_kept_and_found_later(
    make_worker: WorkerFactory, inbound_redis: Redis
) -> None:
    await inbound_redis.hset(keys.outbound_state("message-4"), mapping={"state": "sending"})
    await append(
        inbound_redis,
        status("wamid.EARLY", "delivered"),
        # Tagged by the sender with our message id (biz_opaque_callback_data).
        status("wamid.TAGGED", "read", extra={"biz_opaque_callback_data": "message-4"}),
    )

    assert await make_worker().process_once() == 2

    early = keys.outbound_state("wamid.EARLY")
    assert await inbound_redis.hget(early, "delivery") == b"delivered"
    assert 0 < await inbound_redis.ttl(early)
    assert await inbound_redis.hget(keys.outbound_state("message-4"), "delivery") == b"read"

    await inbound_redis.hset(keys.outbound_state("message-3"), mapping={"state": "sent"})
    assert await link_wamid(inbound_redis, "wamid.EARLY", "message-3", ttl_seconds=3600)
    assert await inbound_redis.hget(keys.outbound_state("message-3"), "delivery") == b"delivered"
    assert not await inbound_redis.exists(early)
    assert await inbound_redis.get(keys.wamid_to_message("wamid.EARLY")) == b"message-3"


async def test_statuses_do_not_wait_behind_a_slow_message_of_the_same_chat(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    chat = phone(12)
    slow = message(chat, 0)
    gate = fake.gates[slow.id] = asyncio.Event()
    await inbound_redis.set(keys.wamid_to_message("wamid.OUT5"), "message-5")
    await append(inbound_redis, slow, status("wamid.OUT5", "delivered", wa_id=chat))
    worker = make_worker()
    async with running(worker):
        await eventually(
            lambda: fake.entered[slow.id].is_set(),
        )
        state = keys.outbound_state("message-5")
        deadline = time.monotonic() + 10
        while await inbound_redis.hget(state, "delivery") != b"delivered":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert fake.completed == []  # the message is still with the agent
        gate.set()
        await eventually(lambda: len(fake.completed) == 1)


# --------------------------------------------------------------------------- the rest


async def test_the_window_follows_the_newest_customer_message(
    make_worker: WorkerFactory, inbound_redis: Redis, clock: Clock
) -> None:
    chat = phone(13)
    newest = int(clock.now) - 60
    await append(
        inbound_redis,
        message(chat, 0, timestamp=newest),
        message(chat, 1, timestamp=newest - 3600),  # a late redelivery of an older one
    )

    assert await make_worker().process_once() == 2

    window = keys.window(chat)
    assert await inbound_redis.get(window) == str(newest).encode()
    ttl = await inbound_redis.ttl(window)
    assert 24 * 3600 - 60 - 5 <= ttl <= 24 * 3600 - 60


async def test_reactions_are_recorded_on_our_message_and_not_forwarded(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations
) -> None:
    await inbound_redis.set(keys.wamid_to_message("wamid.OUT6"), "message-6")
    reaction = message(
        phone(14),
        0,
        type="reaction",
        text="",
        extra={"reaction": {"message_id": "wamid.OUT6", "emoji": "👍"}},
    )
    await append(inbound_redis, reaction)

    assert await make_worker().process_once() == 1

    assert fake.calls == []
    reacted = await inbound_redis.hget(keys.outbound_state("message-6"), "reaction")
    assert reacted == "👍".encode()
    assert await inbound_redis.exists(keys.window(phone(14)))


async def test_types_the_agent_cannot_read_reach_conversations_described(
    make_worker: WorkerFactory, inbound_redis: Redis, fake: FakeConversations, clock: Clock
) -> None:
    chat = phone(15)
    old = clock.now - 3 * 24 * 3600
    items = [
        message(
            chat,
            0,
            type="location",
            text="",
            extra={"location": {"latitude": -23.5, "longitude": -46.6}},
        ),
        message(chat, 1, type="unsupported", text=""),
        message(
            chat,
            2,
            type="interactive",
            text="Confirmar",
            interactive_reply_id="confirmar:1",
        ),
        message(chat, 3, timestamp=old, text="ainda tem dipirona?"),
    ]
    await append(inbound_redis, *items)

    assert await make_worker().process_once() == 4

    texts = [m.text for m in fake.completed]
    assert texts[:3] == [
        "[localização: -23.5, -46.6]",
        "[tipo de mensagem não suportado]",
        "Confirmar",
    ]
    assert fake.completed[2].interactive_reply_id == "confirmar:1"
    assert texts[3].startswith("[mensagem enviada em ")
    assert texts[3].endswith("recebida com atraso] ainda tem dipirona?")
    first = fake.completed[0]
    assert first.channel == pb.CHANNEL_WHATSAPP
    assert first.from_phone == chat
    assert first.profile_name == "Farmácia Teste"
    assert first.sent_at.seconds == items[0].timestamp
