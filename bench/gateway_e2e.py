"""The end-to-end part of the gateway benchmark (`python -m bench.gateway`): from a signed
webhook POST to the agent's reply leaving through the Graph API, with a zero-latency model.

Its own servers, each in a process of its own as deployed: embedded PostgreSQL and Redis, the
commerce server seeded as in the conversations benchmark (`bench.conversations.seed`), the
conversations server with `ZeroLatencyModel` (`python -m bench.conversations_server`), and the
gateway's two processes, `python -m cienty_kit whatsapp webhook` and `... worker`. The Graph API
is a stand-in served by this process (`cienty_whatsapp.simulator.graph_api` under uvicorn, in
the load generator's event loop), which records every send with its arrival time: a turn's
latency runs from the webhook POST to the first send the stand-in records to that number (one
question at a time per chat, so the first send after the POST is its answer).

- one at a time: turns through the gateway, alternating in slices with `HandleMessage` calls
  straight to conversations (the conversations benchmark's turn, on the same chats), so the
  ratio between the two says what the gateway's road costs;
- N chats at once (closed loop): turns/s through the whole road.

Where the time goes comes from the worker's metrics (`cienty_whatsapp_inbound_*`,
`cienty_whatsapp_outbound_*`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from google.protobuf.timestamp_pb2 import Timestamp

from bench import conversations
from bench.commerce import Watched, _postmaster_pid, _redis_pid
from bench.conversations import (
    EXPECTED,
    METADATA,
    ORDERS,
    ORDERS_EVERY,
    PRICE,
    Load,
    _place,
    _problem,
    scrape,
)
from bench.conversations_model import PRODUCT_QUERIES, orders_question, price_question
from bench.gateway_client import Pool, post
from bench.load import Result
from bench.processes import ServerProcess
from bench.report import machine
from cienty.conversations.v1 import conversations_pb2 as pb
from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_commerce.migrations.runner import upgrade as upgrade_commerce
from cienty_conversations.migrations.runner import upgrade as upgrade_conversations
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from cienty_whatsapp.outbound.message import recipient_key
from cienty_whatsapp.settings import DEVELOPMENT_APP_SECRET
from cienty_whatsapp.simulator import payloads
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState, SentMessage, create_graph_api
from cienty_whatsapp.webhook.signature import HEADER

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 16
PHONE_NUMBER_ID = "100000000000001"
PROFILE_NAME = "Compras"
CALL_TIMEOUT_S = 10.0  # a webhook POST, a HandleMessage call
SEND_TIMEOUT_S = 10.0  # from the POST (or the HandleMessage reply) to the send
# The first messages wait for the worker to take its partitions (it looks every 5 s).
FIRST_SEND_TIMEOUT_S = 30.0
SLICES = 5
# Flood protection as a number that writes again the moment it is answered needs: off.
FLOOD_BURST = 1_000_000
FLOOD_PER_MINUTE = 1_000_000.0
END_TO_END = "webhook → send"
ACK = "webhook ack"
DIRECT = "HandleMessage"
PROCESSES = ("webhook", "worker", "conversations", "commerce", "postgres", "redis")
GATEWAY = ("webhook", "worker")


@dataclass(frozen=True)
class Options:
    turns: int  # one at a time, through the gateway (and as many straight to conversations)
    duration_s: float  # each closed loop
    warmup_s: float
    concurrency: tuple[int, ...]
    customers: int
    turns_per_chat: int = 6
    orders_per_customer: int = 3
    cores: int = 2

    @property
    def warmup_turns(self) -> int:
        return min(100, max(10, self.turns // 5))


# --- the Graph API stand-in --------------------------------------------------------------------


@dataclass
class Recorder(GraphState):
    """The stand-in's state, which also hands each send to the turn waiting for its number.
    Used from the event loop that serves the stand-in (no other thread)."""

    waiting: dict[str, asyncio.Future[SentMessage]] = field(default_factory=dict)
    unexpected: int = 0  # sends no turn was waiting for

    def expect(self, number: str) -> asyncio.Future[SentMessage]:
        """The next send to `number` (registered before the message that causes it)."""
        future: asyncio.Future[SentMessage] = asyncio.get_running_loop().create_future()
        self.waiting[recipient_key(number)] = future
        return future

    def forget(self, number: str) -> None:
        future = self.waiting.pop(recipient_key(number), None)
        if future is not None:
            future.cancel()

    def _record(self, payload: dict[str, Any]) -> str:
        wamid = super()._record(payload)
        sent = self.sent[-1]
        future = self.waiting.pop(recipient_key(str(payload.get("to", ""))), None)
        if future is None or future.done():
            self.unexpected += 1
        else:
            future.set_result(sent)
        return wamid


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGINT and SIGTERM stay the benchmark's


@contextlib.asynccontextmanager
async def graph_api(recorder: Recorder, port: int) -> AsyncIterator[None]:
    """The stand-in on 127.0.0.1:`port`, served by this event loop."""
    config = uvicorn.Config(
        create_graph_api(recorder),
        host="127.0.0.1",
        port=port,
        http="h11",
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the Graph API stand-in stopped while starting")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def sent_text(payload: dict[str, Any]) -> str:
    """The text of a Graph API message (text or interactive)."""
    if payload.get("type") == "text":
        return str(payload.get("text", {}).get("body", ""))
    if payload.get("type") == "interactive":
        return str(payload.get("interactive", {}).get("body", {}).get("text", ""))
    return ""


# --- the servers -------------------------------------------------------------------------------


@dataclass
class Setup:
    phones: list[str]
    orders: int
    webhook: ServerProcess
    worker: ServerProcess
    conversations: ServerProcess
    commerce: ServerProcess
    graph_port: int
    watched: Watched
    cpus: str

    @property
    def servers(self) -> tuple[ServerProcess, ...]:
        return (self.webhook, self.worker, self.conversations, self.commerce)

    def check_running(self) -> None:
        for server in self.servers:
            server.check_running()


@contextlib.contextmanager
def environment(tmp: Path, options: Options) -> Iterator[Setup]:
    """PostgreSQL, Redis, commerce, conversations, the gateway's webhook and worker; all
    stopped on the way out. The Graph API stand-in is `graph_api` (started by `measure`)."""
    with contextlib.ExitStack() as stack:
        print("end to end: starting embedded PostgreSQL and Redis", flush=True)
        postgres = EmbeddedPostgres(tmp / "postgres")
        stack.callback(postgres.stop)
        commerce_url = postgres.database_url("bench_commerce")
        conversations_url = postgres.database_url("bench_conversations")
        redis = EmbeddedRedis(tmp / "redis")
        stack.callback(redis.stop)
        redis.start()
        print("end to end: migrating, seeding customers, catalog and orders", flush=True)
        upgrade_commerce(commerce_url)
        upgrade_conversations(conversations_url)
        seeding = conversations.Options(
            turns=options.turns,
            duration_s=options.duration_s,
            concurrency=options.concurrency,
            turns_per_chat=options.turns_per_chat,
            customers=options.customers,
            orders_per_customer=options.orders_per_customer,
            cores=options.cores,
            output=None,
        )
        phones, orders = asyncio.run(conversations.seed(commerce_url, redis.url, seeding))

        common = {
            **os.environ,
            "CIENTY_ENVIRONMENT": "development",
            "CIENTY_REDIS_URL": redis.url,
            "CIENTY_GRPC_HOST": "127.0.0.1",
            "CIENTY_LOG_LEVEL": "WARNING",
            "CIENTY_SHUTDOWN_GRACE_SECONDS": "1",
        }

        def start(name: str, args: list[str], port: int, env: dict[str, str]) -> ServerProcess:
            server = ServerProcess(
                name,
                args,
                port=port,
                log_file=tmp / f"{name.replace(' ', '-')}.log",
                cwd=REPO_ROOT,
                env={**common, **env},
            )
            stack.callback(server.stop)
            server.start()
            return server

        print("end to end: starting commerce, conversations, the webhook and the worker")
        commerce_port = free_port()
        commerce = start(
            "commerce server",
            ["-m", "cienty_kit", "commerce", "serve"],
            commerce_port,
            {
                "CIENTY_DATABASE_URL": commerce_url,
                "CIENTY_GRPC_PORT": str(commerce_port),
                "CIENTY_METRICS_PORT": "0",
            },
        )
        conversations_port = free_port()
        conversations_server = start(
            "conversations server",
            ["-m", "bench.conversations_server"],
            conversations_port,
            {
                "CIENTY_DATABASE_URL": conversations_url,
                "CIENTY_GRPC_PORT": str(conversations_port),
                "CIENTY_METRICS_PORT": str(free_port()),
                "CIENTY_COMMERCE_ADDR": commerce.address,
                "CIENTY_KNOWLEDGE_DATABASE_URL": "",
                # Order events of the seeded orders would become notifications mid-run.
                "CIENTY_NOTIFICATIONS_ENABLED": "false",
            },
        )
        gateway = {
            "CIENTY_WHATSAPP_APP_SECRET": DEVELOPMENT_APP_SECRET,
            "CIENTY_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "CIENTY_INBOUND_PARTITIONS": str(PARTITIONS),
            "CIENTY_FLOOD_BURST": str(FLOOD_BURST),
            "CIENTY_FLOOD_PER_MINUTE": f"{FLOOD_PER_MINUTE:g}",
        }
        webhook_port = free_port()
        webhook = start(
            "gateway webhook",
            ["-m", "cienty_kit", "whatsapp", "webhook"],
            webhook_port,
            {
                **gateway,
                "CIENTY_HTTP_HOST": "127.0.0.1",
                "CIENTY_HTTP_PORT": str(webhook_port),
                "CIENTY_METRICS_PORT": "0",
            },
        )
        # The worker serves nothing but its metrics: that port says it is up.
        graph_port, worker_metrics = free_port(), free_port()
        worker = start(
            "gateway worker",
            ["-m", "cienty_kit", "whatsapp", "worker"],
            worker_metrics,
            {
                **gateway,
                "CIENTY_CONVERSATIONS_ADDR": conversations_server.address,
                "CIENTY_WHATSAPP_GRAPH_URL": f"http://127.0.0.1:{graph_port}/{VERSION}",
                "CIENTY_PACE_SECONDS": "0",
                "CIENTY_METRICS_PORT": str(worker_metrics),
                "CIENTY_MEDIA_DIR": str(tmp / "media"),
            },
        )

        pids: dict[str, tuple[int, bool]] = {
            "webhook": (webhook.pid, False),
            "worker": (worker.pid, False),
            "conversations": (conversations_server.pid, False),
            "commerce": (commerce.pid, False),
            "postgres": (_postmaster_pid(tmp / "postgres" / "pgdata"), True),
        }
        redis_pid = _redis_pid(redis.port)
        if redis_pid is not None:
            pids["redis"] = (redis_pid, False)
        yield Setup(
            phones,
            orders,
            webhook,
            worker,
            conversations_server,
            commerce,
            graph_port,
            Watched(pids),
            _place(options.cores, [pid for pid, _ in pids.values()]),
        )


# --- the turns ---------------------------------------------------------------------------------


@dataclass
class Chat:
    phone: str  # E.164, as commerce has it
    turns: int = 0
    conversation_id: str = ""

    @property
    def wa_id(self) -> str:
        return self.phone.lstrip("+")


class Driver:
    """Customer messages from the chats' numbers: through the gateway (a signed webhook) or
    straight to conversations (`HandleMessage`); the questions of the conversations
    benchmark. A chat's conversation is closed after `turns_per_chat` messages (not timed)."""

    def __init__(
        self,
        recorder: Recorder,
        pool: Pool,
        stub: conversations_pb2_grpc.ConversationServiceAsyncStub,
        turns_per_chat: int,
    ) -> None:
        self.recorder = recorder
        self.pool = pool
        self.stub = stub
        self.turns_per_chat = turns_per_chat
        self.sequence = itertools.count()
        self.closes = 0
        self.lists = 0  # ListConversations calls, to find what to close
        self.bad_reply = ""
        self._open: dict[str, str] = {}  # number -> open conversation (ListConversations)
        self._closed: set[str] = set()

    def question(self) -> tuple[str, str]:
        number = next(self.sequence)
        if number % ORDERS_EVERY == ORDERS_EVERY - 1:
            return ORDERS, orders_question(number // ORDERS_EVERY)
        return PRICE, price_question(PRODUCT_QUERIES[number % len(PRODUCT_QUERIES)])

    def webhook(self, chat: Chat, text: str) -> bytes:
        body = payloads.encode(
            payloads.message(
                PHONE_NUMBER_ID,
                wa_id=chat.wa_id,
                profile_name=PROFILE_NAME,
                wamid=payloads.new_wamid(chat.wa_id),
                timestamp=payloads.now(),
                type="text",
                content=payloads.text(text),
            )
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            HEADER: payloads.signature(DEVELOPMENT_APP_SECRET, body),
        }
        return post(self.pool.host, self.pool.port, "/webhook", body, headers)

    async def through_gateway(
        self,
        chat: Chat,
        result: Result,
        acks: Result | None = None,
        timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        """One turn: the webhook POST, then the wait for the send to the chat's number. The
        latency is the stand-in's arrival time of the send less the POST's start (one clock)."""
        kind, text = self.question()
        request = self.webhook(chat, text)
        sent = self.recorder.expect(chat.phone)
        posted_at, started = time.time(), time.perf_counter()
        try:
            status = await asyncio.wait_for(self.pool.request(request), CALL_TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            self.recorder.forget(chat.phone)
            result.errors[f"webhook {type(error).__name__}"] += 1
            return
        acked = time.perf_counter() - started
        if status != 200:
            self.recorder.forget(chat.phone)
            result.errors[f"webhook HTTP {status}"] += 1
            return
        message = await self._sent(chat, sent, timeout_s, result)
        if message is None:
            return
        if not sent_text(message.payload).startswith(EXPECTED[kind]):
            result.errors["reply replaced by the agent"] += 1
            self.bad_reply = self.bad_reply or sent_text(message.payload)
        else:
            result.latencies_s.append(message.received_at - posted_at)
            if acks is not None:
                acks.latencies_s.append(acked)
        await self._turned(chat, result)

    async def straight(self, chat: Chat, result: Result) -> None:
        """One turn as the conversations benchmark measures it: `HandleMessage`, timed; then
        the gateway's sender sends the reply, awaited untimed, so the next turn starts on a
        quiet machine."""
        kind, text = self.question()
        sent_at = Timestamp()
        sent_at.GetCurrentTime()
        message = pb.InboundMessage(
            channel=pb.CHANNEL_WHATSAPP,
            external_id=payloads.new_wamid(chat.wa_id),
            from_phone=chat.wa_id,
            text=text,
            sent_at=sent_at,
            profile_name=PROFILE_NAME,
        )
        sent = self.recorder.expect(chat.phone)
        started = time.perf_counter()
        try:
            reply = await self.stub.HandleMessage(
                message, metadata=METADATA, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            self.recorder.forget(chat.phone)
            result.errors[error.code().name] += 1
            return
        elapsed = time.perf_counter() - started
        problem = _problem(kind, reply)
        if problem:
            result.errors[problem] += 1
            self.bad_reply = self.bad_reply or " / ".join(m.text for m in reply.messages)
        chat.conversation_id = reply.conversation_id
        if await self._sent(chat, sent, SEND_TIMEOUT_S, result) is None:
            return
        if not problem:
            result.latencies_s.append(elapsed)
        await self._turned(chat, result)

    async def _sent(
        self, chat: Chat, sent: asyncio.Future[SentMessage], timeout_s: float, result: Result
    ) -> SentMessage | None:
        try:
            return await asyncio.wait_for(sent, timeout_s)
        except TimeoutError:
            self.recorder.forget(chat.phone)
            result.errors["no send"] += 1
            return None

    async def _turned(self, chat: Chat, result: Result) -> None:
        chat.turns += 1
        if chat.turns < self.turns_per_chat:
            return
        chat.turns = 0
        key = recipient_key(chat.phone)
        conversation_id = chat.conversation_id or self._open.get(key, "")
        chat.conversation_id = ""
        self._open.pop(key, None)
        try:
            if not conversation_id:
                await self._list_open()
                conversation_id = self._open.pop(key, "")
            if not conversation_id:
                result.errors["no open conversation to close"] += 1
                return
            self._closed.add(conversation_id)
            await self.stub.CloseConversation(
                pb.CloseConversationRequest(conversation_id=conversation_id),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            result.errors[f"closing {error.code().name}"] += 1
            return
        self.closes += 1

    async def _list_open(self) -> None:
        """The open conversations by number (a turn through the gateway does not say which
        conversation it went to)."""
        found: dict[str, str] = {}
        token = ""
        while True:
            self.lists += 1
            page = await self.stub.ListConversations(
                pb.ListConversationsRequest(
                    status=pb.CONVERSATION_STATUS_BOT, page_size=200, page_token=token
                ),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )
            for conversation in page.conversations:
                if conversation.id not in self._closed:
                    found[recipient_key(conversation.customer_phone)] = conversation.id
            token = page.next_page_token
            if not token:
                break
        self._open = found


async def closed_loop(
    driver: Driver, chats: list[Chat], concurrency: int, duration_s: float
) -> Result:
    """`concurrency` callers, each with chats of its own, each sending its next message as
    soon as the last one's answer was sent."""
    result = Result(END_TO_END, f"closed, {concurrency} chats", duration_s)
    start = time.perf_counter()
    deadline = start + duration_s

    async def caller(index: int) -> None:
        mine = itertools.cycle(chats[index::concurrency])
        while time.perf_counter() < deadline:
            await driver.through_gateway(next(mine), result)

    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    result.duration_s = time.perf_counter() - start
    return result


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Breakdown:
    """Means from the worker's metrics over a measurement."""

    handled: int  # HandleMessage calls the worker made
    queue_s: float  # stream append → the worker's first attempt
    handle_s: float  # HandleMessage, as the worker saw it
    sends: int  # Graph API sends
    reply_s: float  # the reply's creation in conversations → the stand-in accepting it
    call_s: float  # the Graph API call


def breakdown(before: dict[str, float], after: dict[str, float]) -> Breakdown | None:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    def mean(name: str) -> float:
        count = delta(f"{name}_count")
        return delta(f"{name}_sum") / count if count > 0 else math.nan

    handled = int(delta("cienty_whatsapp_inbound_handle_seconds_count"))
    if handled <= 0:
        return None
    return Breakdown(
        handled=handled,
        queue_s=mean("cienty_whatsapp_inbound_lag_seconds"),
        handle_s=mean("cienty_whatsapp_inbound_handle_seconds"),
        sends=int(delta("cienty_whatsapp_outbound_queued_seconds_count")),
        reply_s=mean("cienty_whatsapp_outbound_queued_seconds"),
        call_s=mean("cienty_whatsapp_outbound_send_seconds"),
    )


@dataclass
class Run:
    options: Options
    setup_note: str = ""
    customers: int = 0
    orders: int = 0
    end_to_end: Result = field(default_factory=lambda: Result(END_TO_END, "one at a time", 0.0))
    acks: Result = field(default_factory=lambda: Result(ACK, "one at a time", 0.0))
    direct: Result = field(default_factory=lambda: Result(DIRECT, "one at a time", 0.0))
    breakdown: Breakdown | None = None
    # CPU seconds per process over the one-at-a-time turns through the gateway.
    sequential_cpu_s: dict[str, float] = field(default_factory=dict)
    loops: list[Result] = field(default_factory=list)
    loop_breakdowns: list[Breakdown | None] = field(default_factory=list)
    # CPU time of everything else on the machine, in cores (1.0 = one busy core).
    other_sequential: float = math.nan
    other_loops: list[float] = field(default_factory=list)
    warmup_errors: Counter[str] = field(default_factory=Counter)
    closes: int = 0
    lists: int = 0
    unexpected_sends: int = 0
    bad_reply: str = ""

    @property
    def errors(self) -> int:
        results = [self.end_to_end, self.direct, *self.loops]
        return sum(r.error_count for r in results) + sum(self.warmup_errors.values())


async def measure(run: Run, setup: Setup) -> None:
    options = run.options
    recorder = Recorder()
    pool = Pool("127.0.0.1", setup.webhook.port)
    metrics_port = setup.worker.port
    chats = [Chat(phone) for phone in setup.phones]
    try:
        async with (
            graph_api(recorder, setup.graph_port),
            grpc.aio.insecure_channel(setup.conversations.address) as channel,
        ):
            driver = Driver(
                recorder,
                pool,
                conversations_pb2_grpc.ConversationServiceStub(channel),
                options.turns_per_chat,
            )
            rotation = itertools.cycle(chats)
            print(
                f"  warm-up: a message from each of the {len(chats)} chats, then "
                f"{options.warmup_turns} turns each way",
                flush=True,
            )
            warmup = Result(END_TO_END, "warm-up", 0.0)
            # Every number writes first through the gateway: its 24-hour window opens, and
            # the sender may answer it (the straight turns' replies too).
            for chat in chats:
                await driver.through_gateway(chat, warmup, timeout_s=FIRST_SEND_TIMEOUT_S)
            for _ in range(options.warmup_turns):
                await driver.through_gateway(next(rotation), warmup)
                await driver.straight(next(rotation), warmup)
            run.warmup_errors.update(warmup.errors)

            print(
                f"  one at a time: {options.turns} turns through the gateway, {options.turns} "
                "straight to conversations",
                flush=True,
            )
            before = scrape(metrics_port)
            load = Load(setup.watched)
            per_slice = [options.turns // SLICES] * SLICES
            per_slice[0] += options.turns - sum(per_slice)
            for count in per_slice:
                setup.check_running()
                cpu_before, started = setup.watched.sample(), time.perf_counter()
                for _ in range(count):
                    await driver.through_gateway(next(rotation), run.end_to_end, run.acks)
                run.end_to_end.duration_s += time.perf_counter() - started
                for name, seconds in setup.watched.sample().items():
                    used = seconds - cpu_before[name]
                    run.sequential_cpu_s[name] = run.sequential_cpu_s.get(name, 0.0) + used
                started = time.perf_counter()
                for _ in range(count):
                    await driver.straight(next(rotation), run.direct)
                run.direct.duration_s += time.perf_counter() - started
            run.other_sequential = load.other()
            await asyncio.sleep(0.3)  # the last turn's metrics (its read receipt, the ack)
            run.breakdown = breakdown(before, scrape(metrics_port))
            print(f"  {_line(run.end_to_end)}\n  {_line(run.direct)}", flush=True)

            for concurrency in options.concurrency:
                setup.check_running()
                print(f"  {concurrency} chats at once: warm-up {options.warmup_s:g} s", flush=True)
                warmup = await closed_loop(driver, chats, concurrency, options.warmup_s)
                run.warmup_errors.update(warmup.errors)
                await asyncio.sleep(0.5)
                before = scrape(metrics_port)
                load = Load(setup.watched)
                result = await closed_loop(driver, chats, concurrency, options.duration_s)
                result.client_cpu_s, result.process_cpu_s = load.ours()
                run.other_loops.append(load.other())
                run.loop_breakdowns.append(breakdown(before, scrape(metrics_port)))
                run.loops.append(result)
                print(f"  {_line(result)}", flush=True)
            run.closes, run.lists, run.bad_reply = driver.closes, driver.lists, driver.bad_reply
            run.unexpected_sends = recorder.unexpected
    finally:
        pool.close()


def execute(options: Options) -> Run:
    run = Run(options)
    with (
        tempfile.TemporaryDirectory(prefix="cienty-bench-e2e-") as tmp_name,
        environment(Path(tmp_name), options) as setup,
    ):
        run.setup_note, run.customers, run.orders = setup.cpus, len(setup.phones), setup.orders
        print(f"end to end: measuring ({setup.cpus})", flush=True)
        asyncio.run(measure(run, setup))
        if run.errors:
            for server in setup.servers:
                print(f"\n{server.name}, last lines of its log:\n{server.log_tail()}")
    return run


# --- report ------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _mean_ms(result: Result) -> float:
    return sum(result.latencies_s) / result.ok * 1000 if result.ok else math.nan


def _percent(cores: float) -> str:
    return "-" if math.isnan(cores) else f"{cores * 100:.0f}"


def _errors(result: Result) -> str:
    text = str(result.error_count)
    if result.errors:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in result.errors.items()) + ")"
    return text


def _line(result: Result) -> str:
    return (
        f"{result.scenario:<15} {result.mode:<18} {result.throughput:7.1f}/s  "
        f"p50 {_ms(result.percentile_ms(50))}  p95 {_ms(result.percentile_ms(95))}  "
        f"p99 {_ms(result.percentile_ms(99))} ms  errors {result.error_count}"
    )


def ratios(run: Run) -> dict[str, float] | None:
    """End to end / HandleMessage alone, at p50, p95 and the mean."""
    e2e, direct = run.end_to_end, run.direct
    if not e2e.ok or not direct.ok:
        return None
    found = {f"p{q}": e2e.percentile_ms(q) / direct.percentile_ms(q) for q in (50, 95)}
    found["mean"] = _mean_ms(e2e) / _mean_ms(direct)
    return found


def sequential_table(run: Run) -> str:
    rows = [
        "| One at a time | Turns | p50 ms | p95 ms | p99 ms | Mean ms | Errors |",
        "|---|---|---|---|---|---|---|",
    ]
    named = [
        ("**end to end**: webhook POST → the reply's send at the Graph API", run.end_to_end),
        ("of which the webhook's acknowledgement (POST → 200)", run.acks),
        ("`HandleMessage` straight to conversations (the conversations benchmark's turn)",
         run.direct),
    ]  # fmt: skip
    for name, result in named:
        rows.append(
            f"| {name} | {result.ok} | {_ms(result.percentile_ms(50))} "
            f"| {_ms(result.percentile_ms(95))} | {_ms(result.percentile_ms(99))} "
            f"| {_ms(_mean_ms(result))} | {_errors(result)} |"
        )
    return "\n".join(rows)


def breakdown_lines(run: Run) -> list[str]:
    b = run.breakdown
    e2e_ms = _mean_ms(run.end_to_end)
    if b is None or math.isnan(e2e_ms):
        return ["Where the time goes: not measured (no turn succeeded)."]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f} ms"

    def share(seconds: float) -> str:
        return f"{seconds * 1000 / e2e_ms:.0%}"

    ack_s = _mean_ms(run.acks) / 1000
    rest = e2e_ms / 1000 - ack_s - b.queue_s - b.handle_s
    turns = run.end_to_end.ok + run.end_to_end.error_count
    cpu = run.sequential_cpu_s
    cpu_line = ", ".join(
        f"{name} {cpu[name] / turns * 1000:.1f}" for name in PROCESSES if name in cpu and turns
    )
    return [
        f"Where an end-to-end turn's time goes (means over the one-at-a-time turns; the "
        f"gateway's figures from the worker's metrics, over its {b.handled} `HandleMessage` "
        "calls):",
        "",
        f"- end to end: {ms(e2e_ms / 1000)};",
        f"- the webhook's acknowledgement, as the client saw it: {ms(ack_s)} ({share(ack_s)});",
        f"- queue wait, from the append to the chat's stream to the worker's first attempt "
        f"(`cienty_whatsapp_inbound_lag_seconds`; the append time is the entry id's "
        f"millisecond, so this reads up to 1 ms long): {ms(b.queue_s)} ({share(b.queue_s)});",
        f"- `HandleMessage` as the worker saw it (`cienty_whatsapp_inbound_handle_seconds`): "
        f"{ms(b.handle_s)} (**{share(b.handle_s)}**);",
        f"- the rest, {ms(rest)} ({share(rest)}): the worker's steps before the call (24-hour "
        "window, flood bucket, attempt counter: Redis round trips) and the reply's road out "
        "after `HandleMessage` returned, less what overlaps it (the reply is relayed as soon "
        "as the turn commits, while the answer is on its way back to the worker);",
        f"- the reply's road out, measured on its own (`cienty_whatsapp_outbound_queued_"
        f"seconds`, {b.sends} sends, the straight turns' included: the same road): from its "
        f"creation in conversations, inside the turn, to the stand-in accepting it "
        f"{ms(b.reply_s)}: the outbox relay's `XADD` to `conversations.outbound`, the sender's "
        "read, its state and ordering checks, the window, the owner check (`GetConversation`), "
        f"the claim, and the Graph API call itself, {ms(b.call_s)} "
        "(`cienty_whatsapp_outbound_send_seconds`).",
        "",
        "CPU time per end-to-end turn (one at a time, ms): " + cpu_line + ".",
    ]


def loop_table(run: Run) -> str:
    rows = [
        "| Concurrent chats | Turns/s | p50 ms | p95 ms | p99 ms | Errors "
        "| Mean ms: queue wait / `HandleMessage` / reply → send "
        "| CPU % client / " + " / ".join(PROCESSES) + " | Other CPU % "
        "| CPU ms per turn: gateway / conversations / all servers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    others = run.other_loops + [math.nan] * (len(run.loops) - len(run.other_loops))
    parts = run.loop_breakdowns + [None] * (len(run.loops) - len(run.loop_breakdowns))
    for result, other, b in zip(run.loops, others, parts, strict=True):
        cpu = [result.client_cpu_s, *(result.process_cpu_s.get(n, math.nan) for n in PROCESSES)]
        percents = " / ".join(
            "-" if math.isnan(s) else f"{s / result.duration_s * 100:.0f}" for s in cpu
        )
        means = (
            "-"
            if b is None
            else f"{_ms(b.queue_s * 1000)} / {_ms(b.handle_s * 1000)} / {_ms(b.reply_s * 1000)}"
        )
        per_turn = "-"
        if result.ok:
            gateway = sum(result.process_cpu_s.get(n, 0.0) for n in GATEWAY)
            own = result.process_cpu_s.get("conversations", 0.0)
            servers = sum(result.process_cpu_s.values())
            per_turn = " / ".join(f"{s / result.ok * 1000:.1f}" for s in (gateway, own, servers))
        rows.append(
            f"| {result.mode.split(', ')[1].split()[0]} | {result.throughput:.1f} "
            f"| {_ms(result.percentile_ms(50))} | {_ms(result.percentile_ms(95))} "
            f"| {_ms(result.percentile_ms(99))} | {_errors(result)} | {means} | {percents} "
            f"| {_percent(other)} | {per_turn} |"
        )
    return "\n".join(rows)


def throughput_line(run: Run) -> str:
    best = max(run.loops, key=lambda r: r.throughput, default=None)
    if best is None or not best.ok:
        return "not measured"
    busiest = max(best.process_cpu_s, key=lambda name: best.process_cpu_s[name])
    share = best.process_cpu_s[busiest] / best.duration_s
    return (
        f"**{best.throughput:.0f} turns/s** at best through the gateway "
        f"({best.mode.split(', ')[1]}; {run.setup_note.split(':')[0]}); the busiest process "
        f"was {busiest}, at {share:.0%} of a core."
    )


def markdown_lines(run: Run) -> list[str]:
    """The end-to-end subsection of the gateway's section of docs/benchmarks.md."""
    options = run.options
    found = ratios(run)
    ratio_line = (
        "not measured"
        if found is None
        else f"**{found['p50']:.2f} times** at p50 ({found['p95']:.2f} at p95, "
        f"{found['mean']:.2f} on the means)"
    )
    lines = [
        "### End to end (webhook → outbound send)",
        "",
        f"- CPUs: {run.setup_note}",
        f"- {machine()[3]}",
        f"- Other load on the machine: {_percent(run.other_sequential)} % CPU during the "
        "one-at-a-time part (100 = one core busy; CPU time of other processes and time stolen "
        "by the hypervisor); each closed loop's is in its row.",
        "",
        "Method:",
        "",
        "- Its own servers, started after the part above, each in a process of its own with "
        "default settings and log level WARNING: embedded PostgreSQL and Redis; commerce "
        "(`cienty commerce serve`) seeded as in the conversations benchmark (demo catalog, "
        f"{run.customers} active customers, {run.orders} orders); conversations as "
        "`python -m bench.conversations_server`, the service with the zero-latency model "
        "(`ZeroLatencyModel`, answering at once in that process; no knowledge base, order "
        "notifications off); the gateway's webhook (`cienty whatsapp webhook`) and worker "
        f"(`cienty whatsapp worker`: inbound worker and outbound sender; {PARTITIONS} "
        "partitions). Two gateway settings differ: `CIENTY_PACE_SECONDS=0`, since Meta's "
        "pair rate (a message every 6 s to one number, bursts of 3) would otherwise be the "
        "whole figure of a chat that writes again as soon as it is answered, and flood "
        "protection off (`CIENTY_FLOOD_BURST`, `CIENTY_FLOOD_PER_MINUTE` at a million) for "
        "the same reason.",
        "- The Graph API is a stand-in served by the load generator "
        "(`cienty_whatsapp.simulator.graph_api` under uvicorn, in the client's event loop; "
        "the worker's `CIENTY_WHATSAPP_GRAPH_URL` points at it), which records every send "
        "with its arrival time. Meta's own part (the Graph API across the internet, the "
        "delivery to the phone) is not in these figures.",
        "- A turn is a signed webhook (one text message, a new wamid) from a customer's "
        "number, with the conversations benchmark's questions (3 in 4 ask a price, 1 in 4 "
        "about orders). Its latency runs from the POST to the stand-in's recording of the "
        "first send to that number; chats have one question in flight at a time, so that "
        "send is its answer, which must be the model's (else the turn counts as an error). "
        "The road: the webhook (signature, intake script: `XADD` to the chat's stream) → "
        "the worker (`XREADGROUP`, window, flood bucket, `HandleMessage`, read receipt, "
        "`XACK`) → conversations (commerce, the model, the reply written to its outbox) → "
        "the outbox relay (`XADD conversations.outbound`) → the sender (state, ordering, "
        "window, owner check, claim, Graph API send).",
        f"- Conversations are closed after {options.turns_per_chat} messages of a chat, as "
        f"in the conversations benchmark (untimed, but in the CPU figures: {run.closes} "
        f"closes; a chat's open conversation is found with `ListConversations`, "
        f"{run.lists} calls). Before measuring: one message from "
        f"each number (its 24-hour window opens), then {options.warmup_turns} turns each way.",
        f"- **One at a time**: {options.turns} turns through the gateway round-robin over the "
        f"chats, alternating in {SLICES} slices with as many `HandleMessage` calls straight "
        "to conversations on the same chats (the conversations benchmark's turn; the "
        "gateway's sender still sends their replies, awaited untimed before the next turn, "
        "so every turn starts on a quiet machine).",
        f"- **Concurrent chats**: closed loop, N callers each with chats of its own, each "
        f"sending its next message as soon as the last one's answer was sent, for "
        f"{options.duration_s:g} s after a {options.warmup_s:g} s warm-up. Turns/s counts "
        "answered turns. CPU % is CPU time over wall time (100 = one core) of the client "
        "(the load generator and the Graph API stand-in), the gateway's webhook and worker, "
        "conversations, commerce, PostgreSQL (all its processes) and Redis; Other CPU % is "
        "the rest of the machine's busy time, the noise. CPU ms per turn divides the "
        "gateway's two processes', the conversations server's and all servers' CPU time "
        "by the turns.",
        "- Percentiles are nearest-rank over successful turns.",
        "",
        "Results:",
        "",
        sequential_table(run),
        "",
        "End to end / `HandleMessage` alone (one at a time, same run): " + ratio_line,
        "",
        *breakdown_lines(run),
        "",
        loop_table(run),
        "",
        "Throughput: " + throughput_line(run),
        "",
    ]
    if run.warmup_errors:
        lines += [
            "Errors during warm-ups: "
            + ", ".join(f"{name}: {count}" for name, count in run.warmup_errors.items()),
            "",
        ]
    if run.unexpected_sends:
        lines += [f"Sends no turn was waiting for: {run.unexpected_sends}.", ""]
    if run.bad_reply:
        lines += [f"First replaced reply: {run.bad_reply[:300]!r}", ""]
    return lines
