"""Conversations agent benchmark: `make bench` / `python -m bench.conversations`.

The agent's own cost per customer turn: everything but the model's time. Embedded PostgreSQL
and Redis, the commerce server (demo catalog, the demo pharmacies and more customers of the
same kind, each with a few orders) and the conversations server, each server in a process of
its own as deployed; the model is `bench.conversations_model.ZeroLatencyModel`, in-process in
the conversations server (`bench.conversations_server`), so a turn's latency *is* the agent's
overhead. This process only sends WhatsApp-like customer messages (`HandleMessage`):

- one at a time: turn latency p50/p95/p99 against the target p95 < 30 ms, alternating in
  slices with the baseline, the same client calling commerce's `SearchProducts` directly (the
  one DB-backed round trip a price question needs at least);
- N chats at once (closed loop): turns/s on the machine's CPUs (2 by default: with more, the
  servers, PostgreSQL and Redis are pinned to 2 and the load generator to the rest).

Writes its section of docs/benchmarks.md. Exits 1 when a turn failed; a missed target is
reported (FAIL), not fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import random
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import grpc
from prometheus_client.parser import text_string_to_metric_families

from bench.commerce import Watched, _postmaster_pid, _redis_pid
from bench.conversations_model import (
    NO_ORDERS_PREFIX,
    ORDERS_PREFIX,
    PRODUCT_QUERIES,
    PRODUCTS_PREFIX,
    orders_question,
    price_question,
)
from bench.document import DEFAULT_PAGE, write_section
from bench.load import Result
from bench.processes import ServerProcess, cpu_seconds
from bench.report import Verdict, machine
from cienty.commerce.v1 import catalog_pb2, catalog_pb2_grpc
from cienty.conversations.v1 import conversations_pb2 as pb
from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_commerce.demo import seed_demo
from cienty_commerce.demo_data import DEMO_CUSTOMERS, DEMO_PRODUCTS
from cienty_commerce.domain.brazil import cnpj_check_digits
from cienty_commerce.domain.customers import CustomerStatus, NewCustomer
from cienty_commerce.domain.orders import Channel, RequestedLine
from cienty_commerce.migrations.runner import upgrade as upgrade_commerce
from cienty_commerce.server import commerce_app
from cienty_commerce.settings import CommerceSettings
from cienty_conversations.agent.tools import SEARCH_RESULTS
from cienty_conversations.migrations.runner import upgrade as upgrade_conversations
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from cienty_kit.logging import configure_logging
from cienty_kit.settings import DEVELOPMENT_SERVICE_TOKEN

REPO_ROOT = Path(__file__).resolve().parent.parent
METADATA = (("authorization", f"Bearer {DEVELOPMENT_SERVICE_TOKEN}"),)
CALL_TIMEOUT_S = 10.0
TARGET_P95_MS = 30.0
SLICES = 5
# Every ORDERS_EVERY-th customer message asks about orders; the others ask a price.
ORDERS_EVERY = 4
PRICE = "price question"
ORDERS = "order question"
EXPECTED = {PRICE: (PRODUCTS_PREFIX,), ORDERS: (ORDERS_PREFIX, NO_ORDERS_PREFIX)}
TOOL = {PRICE: "search_products", ORDERS: "list_my_orders"}
TURN = "HandleMessage"
SEARCH = "SearchProducts"
SERVERS = ("conversations", "commerce", "postgres", "redis")


@dataclass(frozen=True)
class Options:
    turns: int
    duration_s: float
    concurrency: tuple[int, ...]
    turns_per_chat: int
    customers: int
    orders_per_customer: int
    cores: int
    output: Path | None

    @property
    def warmup_turns(self) -> int:
        return min(100, max(10, self.turns // 5))

    @property
    def warmup_s(self) -> float:
        return min(2.0, max(0.5, self.duration_s / 5))


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.conversations", description=__doc__)
    parser.add_argument(
        "--turns", type=int, default=600, help="turns measured one at a time (default 600)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per closed loop (default 10)"
    )
    parser.add_argument(
        "--concurrency", default="8,32", help="concurrent chats, comma-separated (default 8,32)"
    )
    parser.add_argument(
        "--turns-per-chat",
        type=int,
        default=6,
        help="customer messages per conversation before it is closed (default 6)",
    )
    parser.add_argument(
        "--customers", type=int, default=64, help="customers (phones) sending (default 64)"
    )
    parser.add_argument(
        "--orders-per-customer", type=int, default=3, help="seeded orders each (default 3)"
    )
    parser.add_argument(
        "--cores", type=int, default=2, help="CPUs for the servers when there are more (default 2)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (60 turns, 2 s loops of 2 and 8 chats); no report unless --output",
    )
    parser.add_argument("--output", type=Path, default=None, help="default docs/benchmarks.md")
    args = parser.parse_args(argv)
    try:
        concurrency = tuple(int(part) for part in str(args.concurrency).split(",") if part)
    except ValueError:
        parser.error("--concurrency takes numbers separated by commas, e.g. 8,32")
    turns, duration, customers = args.turns, args.duration, args.customers
    if args.quick:
        turns, duration, concurrency, customers = 60, 2.0, (2, 8), 16
    if turns < SLICES or duration <= 0 or not concurrency or min(concurrency) < 1:
        parser.error(f"--turns must be at least {SLICES}; --duration, --concurrency positive")
    if customers < max(concurrency):
        parser.error("--customers must be at least the largest --concurrency (a chat each)")
    if args.turns_per_chat < 1 or args.orders_per_customer < 1 or args.cores < 1:
        parser.error("--turns-per-chat, --orders-per-customer and --cores must be positive")
    output: Path | None = args.output
    if output is None and not args.quick:
        output = REPO_ROOT / DEFAULT_PAGE
    return Options(
        turns=turns,
        duration_s=duration,
        concurrency=concurrency,
        turns_per_chat=args.turns_per_chat,
        customers=customers,
        orders_per_customer=args.orders_per_customer,
        cores=args.cores,
        output=output,
    )


# --- setup -------------------------------------------------------------------------------------


def _bench_customer(index: int) -> NewCustomer:
    body = f"{61000000 + index:08d}0001"
    return NewCustomer(
        cnpj=body + cnpj_check_digits(body),
        legal_name=f"Farmácia Bancada {index + 1:03d} Ltda.",
        trade_name=f"Farmácia Bancada {index + 1:03d}",
        phone=f"+5511987{index:06d}",
        email=f"compras{index + 1}@farmaciabancada.com.br",
        state="SP",
        city="São Paulo",
    )


async def seed(database_url: str, redis_url: str, options: Options) -> tuple[list[str], int]:
    """The demo data, more customers up to `options.customers`, and orders for each of them.
    Returns the phones that send, and how many orders were seeded."""
    settings = CommerceSettings(
        database_url=database_url,
        redis_url=redis_url,
        grpc_port=0,
        grpc_host="127.0.0.1",
        metrics_port=0,
        log_level="WARNING",
    )
    async with commerce_app(settings) as app:
        await seed_demo(app.customers, app.catalog)
        for index in range(max(0, options.customers - len(DEMO_CUSTOMERS))):
            await app.customers.create(f"bench-seed:{index}", _bench_customer(index))
        found = []
        token = ""
        while True:
            page, token = await app.customers.list_customers(
                query="", page_size_requested=200, page_token=token
            )
            found.extend(page)
            if not token:
                break
        active = [c for c in found if c.status is CustomerStatus.ACTIVE][: options.customers]
        # Enough stock that the seeded orders never run out (some demo products have none).
        skus = [product.sku for product in DEMO_PRODUCTS if product.stock_quantity >= 100]
        rng = random.Random(7)
        orders = 0
        for customer in active:
            for number in range(options.orders_per_customer):
                lines = [
                    RequestedLine(sku, rng.randint(1, 3))
                    for sku in rng.sample(skus, rng.randint(1, 3))
                ]
                await app.orders.create(
                    request_id=f"bench-seed:{customer.id}:{number}",
                    customer_id=customer.id,
                    lines=lines,
                    channel=Channel.WHATSAPP,
                )
                orders += 1
    return [customer.phone for customer in active], orders


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            raw = (entry / "stat").read_text()
            parent = int(raw[raw.rindex(")") + 2 :].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(parents.get(current, []))
    return found


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` and of its descendants to `cpus` (threads and processes started
    later inherit it)."""
    for process in _descendants(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{process}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)


@dataclass
class Setup:
    phones: list[str]
    orders: int
    commerce: ServerProcess
    conversations: ServerProcess
    metrics_port: int
    watched: Watched
    cpus: str


@contextlib.contextmanager
def environment(tmp: Path, options: Options) -> Iterator[Setup]:
    """PostgreSQL, Redis, the commerce and the conversations servers; all stopped on the way
    out."""
    with contextlib.ExitStack() as stack:
        print("starting embedded PostgreSQL and Redis", flush=True)
        postgres = EmbeddedPostgres(tmp / "postgres")
        stack.callback(postgres.stop)
        commerce_url = postgres.database_url("bench_commerce")
        conversations_url = postgres.database_url("bench_conversations")
        redis = EmbeddedRedis(tmp / "redis")
        stack.callback(redis.stop)
        redis.start()
        print("migrating, seeding customers, catalog and orders", flush=True)
        upgrade_commerce(commerce_url)
        upgrade_conversations(conversations_url)
        phones, orders = asyncio.run(seed(commerce_url, redis.url, options))

        common = {
            **os.environ,
            "CIENTY_ENVIRONMENT": "development",
            "CIENTY_REDIS_URL": redis.url,
            "CIENTY_GRPC_HOST": "127.0.0.1",
            "CIENTY_LOG_LEVEL": "WARNING",
            "CIENTY_SHUTDOWN_GRACE_SECONDS": "1",
        }
        commerce_port = free_port()
        commerce = ServerProcess(
            "commerce server",
            ["-m", "cienty_kit", "commerce", "serve"],
            port=commerce_port,
            log_file=tmp / "commerce.log",
            cwd=REPO_ROOT,
            env={
                **common,
                "CIENTY_DATABASE_URL": commerce_url,
                "CIENTY_GRPC_PORT": str(commerce_port),
                "CIENTY_METRICS_PORT": "0",
            },
        )
        stack.callback(commerce.stop)
        commerce.start()
        conversations_port, metrics_port = free_port(), free_port()
        conversations = ServerProcess(
            "conversations server",
            ["-m", "bench.conversations_server"],
            port=conversations_port,
            log_file=tmp / "conversations.log",
            cwd=REPO_ROOT,
            env={
                **common,
                "CIENTY_DATABASE_URL": conversations_url,
                "CIENTY_GRPC_PORT": str(conversations_port),
                "CIENTY_METRICS_PORT": str(metrics_port),
                "CIENTY_COMMERCE_ADDR": commerce.address,
                "CIENTY_KNOWLEDGE_DATABASE_URL": "",
                # Order events of the seeded orders would become notifications mid-run.
                "CIENTY_NOTIFICATIONS_ENABLED": "false",
            },
        )
        stack.callback(conversations.stop)
        conversations.start()

        postmaster = _postmaster_pid(tmp / "postgres" / "pgdata")
        pids: dict[str, tuple[int, bool]] = {
            "conversations": (conversations.pid, False),
            "commerce": (commerce.pid, False),
            "postgres": (postmaster, True),
        }
        redis_pid = _redis_pid(redis.port)
        if redis_pid is not None:
            pids["redis"] = (redis_pid, False)
        yield Setup(
            phones,
            orders,
            commerce,
            conversations,
            metrics_port,
            Watched(pids),
            _place(options.cores, [pid for pid, _ in pids.values()]),
        )


def _place(cores: int, server_pids: list[int]) -> str:
    """Pins the servers to `cores` CPUs and this process to the others, when there are more."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) <= cores:
        return (
            f"{len(usable)} CPU{'s' if len(usable) != 1 else ''} usable, no pinning: the servers, "
            "PostgreSQL, Redis and the load generator share them"
        )
    servers, client = set(usable[:cores]), set(usable[cores:])
    for pid in server_pids:
        pin(pid, servers)
    pin(os.getpid(), client)
    return (
        f"the servers, PostgreSQL and Redis pinned to CPUs {sorted(servers)} "
        f"(sched_setaffinity), the load generator to the other {len(client)}"
    )


# --- the calls ---------------------------------------------------------------------------------


@dataclass
class Chat:
    phone: str
    turns: int = 0
    conversation_id: str = ""


@dataclass
class Driver:
    """Sends customer messages as WhatsApp would: a unique message id each, and a chat
    (conversation) closed after `turns_per_chat` messages so histories stay realistic."""

    stub: conversations_pb2_grpc.ConversationServiceAsyncStub
    turns_per_chat: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    sequence: Iterator[int] = field(default_factory=itertools.count)
    closes: int = 0
    bad_reply: str = ""

    def message(self, phone: str) -> tuple[str, pb.InboundMessage]:
        number = next(self.sequence)
        if number % ORDERS_EVERY == ORDERS_EVERY - 1:
            kind, text = ORDERS, orders_question(number // ORDERS_EVERY)
        else:
            kind, text = PRICE, price_question(PRODUCT_QUERIES[number % len(PRODUCT_QUERIES)])
        return kind, pb.InboundMessage(
            channel=pb.CHANNEL_WHATSAPP,
            external_id=f"wamid.bench.{self.tag}.{number}",
            from_phone=phone,
            text=text,
            profile_name="Compras",
        )

    async def turn(self, chat: Chat, result: Result, kinds: dict[str, Result] | None) -> None:
        kind, request = self.message(chat.phone)
        started = time.perf_counter()
        try:
            reply = await self.stub.HandleMessage(
                request, metadata=METADATA, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            result.errors[error.code().name] += 1
            return
        elapsed = time.perf_counter() - started
        problem = _problem(kind, reply)
        if problem:
            result.errors[problem] += 1
            self.bad_reply = self.bad_reply or " / ".join(m.text for m in reply.messages)
        else:
            result.latencies_s.append(elapsed)
            if kinds is not None:
                kinds[kind].latencies_s.append(elapsed)
        chat.turns += 1
        chat.conversation_id = reply.conversation_id
        if chat.turns >= self.turns_per_chat:
            chat.turns = 0
            try:
                await self.stub.CloseConversation(
                    pb.CloseConversationRequest(conversation_id=chat.conversation_id),
                    metadata=METADATA,
                    timeout=CALL_TIMEOUT_S,
                )
            except grpc.aio.AioRpcError as error:
                result.errors[f"CloseConversation {error.code().name}"] += 1
            self.closes += 1


def _problem(kind: str, reply: pb.AgentReply) -> str:
    if reply.handed_off:
        return "handed off"
    if not reply.messages:
        return "no reply"
    if not reply.messages[0].text.startswith(EXPECTED[kind]):
        return "reply replaced by the agent"
    return ""


def search_requests() -> Iterator[catalog_pb2.SearchProductsRequest]:
    """The agent's own `search_products` requests (cienty_conversations.agent.tools)."""
    return itertools.cycle(
        catalog_pb2.SearchProductsRequest(query=query, page_size=SEARCH_RESULTS)
        for query in PRODUCT_QUERIES
    )


async def searches(
    stub: catalog_pb2_grpc.CatalogServiceAsyncStub,
    requests: Iterator[catalog_pb2.SearchProductsRequest],
    count: int,
    result: Result,
) -> None:
    for _ in range(count):
        started = time.perf_counter()
        try:
            await stub.SearchProducts(next(requests), metadata=METADATA, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            result.errors[error.code().name] += 1
            continue
        result.latencies_s.append(time.perf_counter() - started)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all the machine's CPUs spent busy since boot (stolen by the hypervisor
    included; idle and I/O wait not)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def scrape(port: int) -> dict[str, float]:
    """The conversations server's metrics, summed over labels except `grpc_method`."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name
            if "grpc_method" in sample.labels:
                key += ":" + sample.labels["grpc_method"]
            values[key] = values.get(key, 0.0) + sample.value
    return values


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Breakdown:
    """Means per turn over the one-at-a-time turns, from the server's metrics."""

    turns: int
    client_s: float  # as the load generator saw it
    server_s: float  # ConversationService.handle_message (cienty_conversations_turn_seconds)
    commerce_calls: float
    commerce_s: float
    model_calls: float
    model_s: float
    cpu_s: float  # the conversations process


@dataclass
class Run:
    options: Options
    setup_note: str = ""
    customers: int = 0
    orders: int = 0
    sequential: Result = field(default_factory=lambda: Result(TURN, "one at a time", 0.0))
    kinds: dict[str, Result] = field(
        default_factory=lambda: {kind: Result(TURN, kind, 0.0) for kind in (PRICE, ORDERS)}
    )
    baseline: Result = field(default_factory=lambda: Result(SEARCH, "one at a time", 0.0))
    breakdown: Breakdown | None = None
    loops: list[Result] = field(default_factory=list)
    # CPU time of everything else on the machine, in cores (1.0 = one busy core): before the
    # run, over the one-at-a-time part, and over each closed loop.
    other_at_start: float = math.nan
    other_sequential: float = math.nan
    other_loops: list[float] = field(default_factory=list)
    warmup_errors: Counter[str] = field(default_factory=Counter)
    closes: int = 0
    bad_reply: str = ""
    started_utc: float = field(default_factory=time.time)

    @property
    def errors(self) -> int:
        results = [self.sequential, self.baseline, *self.loops]
        return sum(r.error_count for r in results) + sum(self.warmup_errors.values())


async def measure(run: Run, setup: Setup) -> None:
    options = run.options
    chats = [Chat(phone) for phone in setup.phones]
    async with (
        grpc.aio.insecure_channel(setup.conversations.address) as conversations_channel,
        grpc.aio.insecure_channel(setup.commerce.address) as commerce_channel,
    ):
        driver = Driver(
            conversations_pb2_grpc.ConversationServiceStub(conversations_channel),
            options.turns_per_chat,
        )
        catalog = catalog_pb2_grpc.CatalogServiceStub(commerce_channel)
        requests = search_requests()
        rotation = itertools.cycle(chats)

        print(f"  warm-up: {options.warmup_turns} turns and searches", flush=True)
        warmup = Result(TURN, "warm-up", 0.0)
        for _ in range(options.warmup_turns):
            await driver.turn(next(rotation), warmup, None)
        await searches(catalog, requests, options.warmup_turns, warmup)
        run.warmup_errors.update(warmup.errors)

        print(f"  one at a time: {options.turns} turns, {options.turns} searches", flush=True)
        before, cpu_s = scrape(setup.metrics_port), 0.0
        load = Load(setup.watched)
        per_slice = [options.turns // SLICES] * SLICES
        per_slice[0] += options.turns - sum(per_slice)
        for count in per_slice:
            setup.conversations.check_running()
            cpu_before, started = cpu_seconds(setup.conversations.pid), time.perf_counter()
            for _ in range(count):
                await driver.turn(next(rotation), run.sequential, run.kinds)
            run.sequential.duration_s += time.perf_counter() - started
            cpu_s += cpu_seconds(setup.conversations.pid) - cpu_before
            started = time.perf_counter()
            await searches(catalog, requests, count, run.baseline)
            run.baseline.duration_s += time.perf_counter() - started
        run.breakdown = _breakdown(before, scrape(setup.metrics_port), run.sequential, cpu_s)
        run.other_sequential = load.other()
        print(f"  {_line(run.sequential)}\n  {_line(run.baseline)}", flush=True)

        for concurrency in options.concurrency:
            setup.conversations.check_running()
            print(f"  {concurrency} chats at once: warm-up {options.warmup_s:g} s", flush=True)
            warmup = await closed_loop(driver, chats, concurrency, options.warmup_s)
            run.warmup_errors.update(warmup.errors)
            await asyncio.sleep(0.5)
            load = Load(setup.watched)
            result = await closed_loop(driver, chats, concurrency, options.duration_s)
            result.client_cpu_s, result.process_cpu_s = load.ours()
            run.loops.append(result)
            run.other_loops.append(load.other())
            print(f"  {_line(result)}", flush=True)
        run.closes, run.bad_reply = driver.closes, driver.bad_reply


class Load:
    """CPU time since it was made: this process's, the servers', and everything else's."""

    def __init__(self, watched: Watched) -> None:
        self._watched = watched
        self._started = time.perf_counter()
        self._machine = machine_busy_s()
        self._client = time.process_time()
        self._servers = watched.sample()

    def ours(self) -> tuple[float, dict[str, float]]:
        servers = self._watched.sample()
        return time.process_time() - self._client, {
            name: servers[name] - self._servers[name] for name in servers
        }

    def other(self) -> float:
        """In cores: the machine's busy CPU time that was neither ours nor the servers'."""
        client, servers = self.ours()
        elapsed = time.perf_counter() - self._started
        busy = machine_busy_s() - self._machine - client - sum(servers.values())
        return max(0.0, busy) / elapsed if elapsed > 0 else math.nan


async def closed_loop(
    driver: Driver, chats: list[Chat], concurrency: int, duration_s: float
) -> Result:
    """`concurrency` callers, each with chats of its own, each sending the next message as
    soon as the last one is answered."""
    result = Result(TURN, f"closed, {concurrency} chats", duration_s)
    start = time.perf_counter()
    deadline = start + duration_s

    async def caller(index: int) -> None:
        mine = itertools.cycle(chats[index::concurrency])
        while time.perf_counter() < deadline:
            await driver.turn(next(mine), result, None)

    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    result.duration_s = time.perf_counter() - start
    return result


def _breakdown(
    before: dict[str, float], after: dict[str, float], turns: Result, cpu_s: float
) -> Breakdown | None:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    count = delta("cienty_conversations_turn_seconds_count")
    if count <= 0 or not turns.ok:
        return None
    return Breakdown(
        turns=int(count),
        client_s=sum(turns.latencies_s) / turns.ok,
        server_s=delta("cienty_conversations_turn_seconds_sum") / count,
        commerce_calls=delta("cienty_bench_commerce_calls_total") / count,
        commerce_s=delta("cienty_bench_commerce_seconds_total") / count,
        model_calls=delta("cienty_bench_model_calls_total") / count,
        model_s=delta("cienty_bench_model_seconds_total") / count,
        cpu_s=cpu_s / count,
    )


# --- report ------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _percent(cores: float) -> str:
    return "-" if math.isnan(cores) else f"{cores * 100:.0f}"


def _mean_ms(result: Result) -> float:
    return sum(result.latencies_s) / result.ok * 1000 if result.ok else math.nan


def _errors(result: Result) -> str:
    text = str(result.error_count)
    if result.errors:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in result.errors.items()) + ")"
    return text


def _line(result: Result) -> str:
    return (
        f"{result.scenario:<15} {result.mode:<20} {result.throughput:7.1f}/s  "
        f"p50 {_ms(result.percentile_ms(50))}  p95 {_ms(result.percentile_ms(95))}  "
        f"p99 {_ms(result.percentile_ms(99))} ms  errors {result.error_count}"
    )


def ratio(run: Run) -> float | None:
    turn, search = run.sequential.percentile_ms(50), run.baseline.percentile_ms(50)
    if math.isnan(turn) or math.isnan(search) or search <= 0:
        return None
    return turn / search


def verdicts(run: Run) -> list[Verdict]:
    target = (
        f"agent overhead per turn p95 < {TARGET_P95_MS:g} ms (zero-latency model, one at a time)"
    )
    result = run.sequential
    if not result.ok:
        return [Verdict(target, "not measured", None)]
    p95 = result.percentile_ms(95)
    errors = f", {result.error_count} failed turns" if result.error_count else ""
    return [Verdict(target, f"p95 {p95:.2f} ms{errors}", p95 < TARGET_P95_MS and not errors)]


def sequential_table(run: Run) -> str:
    rows = [
        "| Call (one at a time) | Calls | p50 ms | p95 ms | p99 ms | Mean ms | Errors |",
        "|---|---|---|---|---|---|---|",
    ]
    named = [
        ("`HandleMessage`, every turn", run.sequential),
        *(
            (f"`HandleMessage`, {kind} (`{TOOL[kind]}`)", result)
            for kind, result in run.kinds.items()
        ),
        (f"`SearchProducts` straight to commerce (baseline, page size {SEARCH_RESULTS})",
         run.baseline),
    ]  # fmt: skip
    for name, result in named:
        rows.append(
            f"| {name} | {result.ok} | {_ms(result.percentile_ms(50))} "
            f"| {_ms(result.percentile_ms(95))} | {_ms(result.percentile_ms(99))} "
            f"| {_ms(_mean_ms(result))} | {_errors(result)} |"
        )
    return "\n".join(rows)


def loop_table(run: Run) -> str:
    rows = [
        "| Concurrent chats | Turns/s | p50 ms | p95 ms | p99 ms | Errors "
        "| CPU % client / conversations / commerce / postgres / redis | Other CPU % "
        "| CPU ms per turn: conversations / all servers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    others = run.other_loops + [math.nan] * (len(run.loops) - len(run.other_loops))
    for result, other in zip(run.loops, others, strict=True):
        cpu = [result.client_cpu_s, *(result.process_cpu_s.get(name, math.nan) for name in SERVERS)]
        percents = " / ".join(
            "-" if math.isnan(s) else f"{s / result.duration_s * 100:.0f}" for s in cpu
        )
        servers = sum(result.process_cpu_s.values())
        own = result.process_cpu_s.get("conversations", math.nan)
        per_turn = (
            f"{own / result.ok * 1000:.1f} / {servers / result.ok * 1000:.1f}" if result.ok else "-"
        )
        rows.append(
            f"| {result.mode.split(', ')[1].split()[0]} | {result.throughput:.1f} "
            f"| {_ms(result.percentile_ms(50))} | {_ms(result.percentile_ms(95))} "
            f"| {_ms(result.percentile_ms(99))} | {_errors(result)} | {percents} "
            f"| {_percent(other)} | {per_turn} |"
        )
    return "\n".join(rows)


def breakdown_lines(breakdown: Breakdown | None) -> list[str]:
    if breakdown is None:
        return ["Where the time goes: not measured (no turn succeeded)."]
    b = breakdown
    own = b.server_s - b.commerce_s - b.model_s

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f} ms"

    def share(seconds: float) -> str:
        return f"{seconds / b.client_s:.0%}" if b.client_s > 0 else "-"

    return [
        f"Where a turn's time goes (means over the {b.turns} one-at-a-time turns, from the "
        "conversations server's metrics):",
        "",
        f"- as the client saw it: {ms(b.client_s)}; inside `ConversationService.handle_message` "
        f"{ms(b.server_s)} ({share(b.server_s)}), the rest is gRPC, the auth/metrics "
        "interceptor and the loopback network;",
        f"- waiting on commerce: {b.commerce_calls:.2f} calls per turn (the sender's identity, "
        f"then the tool), {ms(b.commerce_s)} (**{share(b.commerce_s)}** of the turn);",
        f"- the model: {b.model_calls:.2f} calls per turn, {ms(b.model_s)} (zero-latency);",
        f"- the rest of the service (its PostgreSQL transactions to claim the turn, read the "
        f"history and store the answer; prompt, tool loop, grounding check, outbox): "
        f"{ms(own)} ({share(own)});",
        f"- CPU time of the conversations process: {ms(b.cpu_s)} per turn.",
    ]


def throughput_line(run: Run) -> str:
    best = max(run.loops, key=lambda r: r.throughput, default=None)
    if best is None or not best.ok:
        return "not measured"
    busiest = max(best.process_cpu_s, key=lambda name: best.process_cpu_s[name])
    share = best.process_cpu_s[busiest] / best.duration_s
    return (
        f"**{best.throughput:.0f} turns/s** at best ({best.mode.split(', ')[1]}; "
        f"{run.setup_note.split(':')[0]}). The busiest process was {busiest}, at "
        f"{share:.0%} of a core"
        + (
            " (one Python process runs one asyncio event loop: it cannot use much more than one "
            "core)."
            if busiest == "conversations"
            else "."
        )
    )


def markdown(run: Run, found: list[Verdict]) -> str:
    options = run.options
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.started_utc))
    value = ratio(run)
    lines = [
        "## Conversations agent",
        "",
        "`python -m bench.conversations`.",
        "",
        "### Run",
        "",
        f"- Date: {started}",
        *(f"- {item}" for item in machine()),
        f"- CPUs: {run.setup_note}",
        f"- Other load on the machine: {_percent(run.other_at_start)} % CPU in the second "
        f"before the run, {_percent(run.other_sequential)} % during the one-at-a-time part "
        "(100 = one core busy; CPU time of other processes and time stolen by the hypervisor)",
        "",
        "### Method",
        "",
        "- Embedded PostgreSQL and Redis (`cienty_dev.embedded`) in a temporary directory; the "
        "commerce and conversations databases migrated; commerce seeded with the demo catalog "
        f"and customers plus more active customers of the same kind ({run.customers} in all, "
        f"each with {options.orders_per_customer} orders: {run.orders} orders).",
        "- Each server in a process of its own, with default settings except the log level "
        "(WARNING): commerce as `python -m cienty_kit commerce serve`; conversations as "
        "`python -m bench.conversations_server`, which builds it with `conversations_app` "
        "exactly as `cienty conversations serve` does (real gRPC commerce client, database pool, "
        "outbox relay to Redis) except for the model, `ZeroLatencyModel` "
        "(`bench/conversations_model.py`) in that process, answering at once; no knowledge "
        "base; order notifications off. It also counts the calls into commerce and the model "
        "and their time (two clock reads each).",
        "- Every turn is a new customer message (unique WhatsApp message id) from one of the "
        "customers' phones, so the sender is looked up in commerce. Three in four ask a price "
        '("Bom dia! Qual o preço de dipirona 500 mg? Tem em estoque?", ten catalog names in '
        "turn): the model calls `search_products`, then answers quoting three of the products "
        "found with prices formatted from the tool's `unit_price_cents`, which the grounding "
        "check accepts. One in four asks about the customer's orders: `list_my_orders`, then "
        "an answer listing them. A reply that is not the model's (a failed, ungrounded or "
        "handed-over turn) counts as an error. A chat is closed (`CloseConversation`) after "
        f"{options.turns_per_chat} messages and the phone's next message opens a new one, so "
        f"histories stay short as in real chats ({run.closes} closes in the run, not timed).",
        "- The load generator is one `grpc.aio` client process; every call has a "
        f"{CALL_TIMEOUT_S:g} s deadline. Before measuring: {options.warmup_turns} turns and "
        "searches (discarded).",
        f"- **One at a time**: {options.turns} turns round-robin over the customers' chats, "
        f"alternating in {SLICES} slices with as many `SearchProducts` calls straight to "
        "commerce (the same queries and page size the agent's `search_products` uses): the "
        "baseline, one round trip to a DB-backed service. With a model that takes no time, "
        "a turn's latency is the agent's overhead.",
        f"- **Concurrent chats**: closed loop, N callers each with chats of its own (no two "
        f"messages of one chat at once), each sending its next message as soon as the last "
        f"is answered, for {options.duration_s:g} s after a {options.warmup_s:g} s warm-up. "
        "Turns/s counts answered turns. CPU % is CPU time over wall time (100 = one core) of "
        "the client, the conversations server, the commerce server, PostgreSQL (all its "
        "processes) and Redis; Other CPU % is the rest of the machine's busy time (other "
        "processes, the hypervisor's steal): the noise. CPU ms per turn divides the "
        "conversations server's CPU time, and that of all four servers, by the turns.",
        "- Percentiles are nearest-rank over successful calls.",
        "",
        "### Results",
        "",
        sequential_table(run),
        "",
        "Turn p50 / `SearchProducts` p50: "
        + ("not measured" if value is None else f"**{value:.1f} times**"),
        "",
        *breakdown_lines(run.breakdown),
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
    if run.bad_reply:
        lines += [f"First replaced reply: {run.bad_reply[:300]!r}", ""]
    lines += ["### Targets", ""]
    lines += [f"- {verdict.line().replace('  ', ' ', 1)}" for verdict in found]
    lines.append("")
    return "\n".join(lines)


# --- orchestration -----------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def execute(options: Options) -> Run:
    run = Run(options)
    busy, started = machine_busy_s(), time.perf_counter()
    time.sleep(1.0)
    run.other_at_start = (machine_busy_s() - busy) / (time.perf_counter() - started)
    with (
        tempfile.TemporaryDirectory(prefix="cienty-bench-") as tmp_name,
        environment(Path(tmp_name), options) as setup,
    ):
        run.setup_note, run.customers, run.orders = setup.cpus, len(setup.phones), setup.orders
        print(f"measuring ({setup.cpus})", flush=True)
        asyncio.run(measure(run, setup))
        if run.errors:
            for server in (setup.conversations, setup.commerce):
                print(f"\n{server.name}, last lines of its log:\n{server.log_tail()}")
    return run


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    configure_logging("WARNING", "console")
    # Also when started with SIGINT ignored (a background job): Ctrl-C must still clean up.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run = execute(options)
    except KeyboardInterrupt:
        print("interrupted; every process was stopped", file=sys.stderr)
        return 130
    found = verdicts(run)
    text = markdown(run, found)
    print()
    print(text)
    if options.output is not None:
        write_section(options.output, "conversations", text)
        print(f"\nwrote {options.output}")
    if run.errors:
        print(f"\n{run.errors} calls failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
