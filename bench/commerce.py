"""Commerce gRPC benchmark: `make bench` / `python -m bench.commerce`.

Starts embedded PostgreSQL and Redis, migrates and seeds the demo data, then runs the commerce
server (`cienty commerce serve`) and a bare grpc.aio baseline server, each in a process of its
own; this process only generates load. Every scenario is measured twice: closed-loop (N callers
as fast as they go: throughput) and open-loop (a fixed request rate: latency percentiles). The
results are printed and written to docs/benchmarks.md.

Exits 1 when any request failed; a missed performance target is reported (FAIL), not fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc

from bench import report
from bench.document import write_section
from bench.load import Call, Result, closed_loop, merge, open_loop
from bench.processes import ServerProcess, cpu_seconds
from bench.report import Run
from cienty.commerce.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
)
from cienty_commerce.demo import seed_demo
from cienty_commerce.migrations.runner import upgrade
from cienty_commerce.server import commerce_app
from cienty_commerce.settings import CommerceSettings
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from cienty_kit.logging import configure_logging
from cienty_kit.settings import DEVELOPMENT_SERVICE_TOKEN

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"

METADATA = (("authorization", f"Bearer {DEVELOPMENT_SERVICE_TOKEN}"),)
CALL_TIMEOUT_S = 10.0
READ_RATE = 200.0
WRITE_RATE = 100.0
SEARCH_QUERIES = (
    "dipirona",
    "paracetamol 750",
    "omeprazol",
    "amoxicilina",
    "vitamina c",
    "dipirna",  # a typo: trigram similarity rather than full text
)
STOCK_FOR_BENCH = 100_000_000


@dataclass(frozen=True)
class Options:
    duration_s: float
    warmup_s: float
    concurrency: int
    output: Path | None
    quick: bool


@dataclass
class Catalog:
    skus: list[str]
    customer_ids: list[str]
    sample_product: bytes


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.commerce", description=__doc__)
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per measurement (default 10)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="closed-loop callers (default 32)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 s measurements; writes no report unless --output is given",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the Markdown report (default docs/benchmarks.md)",
    )
    args = parser.parse_args(argv)
    duration: float = 2.0 if args.quick else args.duration
    if duration <= 0 or args.concurrency < 1:
        parser.error("--duration and --concurrency must be positive")
    output: Path | None = args.output
    if output is None and not args.quick:
        output = DEFAULT_OUTPUT
    return Options(
        duration_s=duration,
        warmup_s=min(2.0, max(0.5, duration / 5)),
        concurrency=args.concurrency,
        output=output,
        quick=args.quick,
    )


# --- setup -------------------------------------------------------------------------------------


async def seed(database_url: str, redis_url: str) -> None:
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


async def prepare(address: str) -> Catalog:
    """Lists the seeded catalog and customers, and gives every product stock to spare."""
    async with grpc.aio.insecure_channel(address) as channel:
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        customers = customers_pb2_grpc.CustomerServiceStub(channel)
        skus: list[str] = []
        token = ""
        while True:
            page = await catalog.SearchProducts(
                catalog_pb2.SearchProductsRequest(page_size=100, page_token=token),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )
            skus.extend(product.sku for product in page.products)
            token = page.next_page_token
            if not token:
                break
        customer_ids: list[str] = []
        token = ""
        while True:
            listed = await customers.ListCustomers(
                customers_pb2.ListCustomersRequest(page_size=200, page_token=token),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )
            customer_ids.extend(
                customer.id
                for customer in listed.customers
                if customer.status == customers_pb2.CUSTOMER_STATUS_ACTIVE
            )
            token = listed.next_page_token
            if not token:
                break
        if not skus or not customer_ids:
            raise RuntimeError("the demo seed left no products or no customers")
        sizes: list[tuple[int, bytes]] = []
        for sku in skus:
            product = await catalog.AdjustStock(
                catalog_pb2.AdjustStockRequest(sku=sku, delta=STOCK_FOR_BENCH, reason="bench"),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )
            payload = product.SerializeToString()
            sizes.append((len(payload), payload))
        sizes.sort(key=lambda item: item[0])
        # The bare server answers with the median-sized real product.
        return Catalog(skus, customer_ids, sizes[len(sizes) // 2][1])


# --- scenarios ---------------------------------------------------------------------------------


def get_product_call(skus: list[str]) -> Callable[[grpc.aio.Channel], Call]:
    requests = [catalog_pb2.GetProductRequest(sku=sku) for sku in skus]

    def bind(channel: grpc.aio.Channel) -> Call:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)

        async def call() -> object:
            return await stub.GetProduct(
                random.choice(requests), metadata=METADATA, timeout=CALL_TIMEOUT_S
            )

        return call

    return bind


def search_call(channel: grpc.aio.Channel) -> Call:
    requests = [catalog_pb2.SearchProductsRequest(query=query) for query in SEARCH_QUERIES]
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def call() -> object:
        return await stub.SearchProducts(
            random.choice(requests), metadata=METADATA, timeout=CALL_TIMEOUT_S
        )

    return call


def create_order_call(
    skus: list[str], customer_ids: list[str]
) -> Callable[[grpc.aio.Channel], Call]:
    def bind(channel: grpc.aio.Channel) -> Call:
        stub = orders_pb2_grpc.OrderServiceStub(channel)

        async def call() -> object:
            lines = [
                orders_pb2.CreateOrderLine(sku=sku, quantity=random.randint(1, 3))
                for sku in random.sample(skus, random.randint(1, 3))
            ]
            request = orders_pb2.CreateOrderRequest(
                request_id=f"bench-{uuid.uuid4()}",
                customer_id=random.choice(customer_ids),
                lines=lines,
                channel=orders_pb2.CHANNEL_API,
            )
            return await stub.CreateOrder(request, metadata=METADATA, timeout=CALL_TIMEOUT_S)

        return call

    return bind


@dataclass
class Watched:
    """Processes whose CPU time is recorded per measurement."""

    pids: dict[str, tuple[int, bool]]  # name -> (pid, count its children too)

    def sample(self) -> dict[str, float]:
        return {
            name: cpu_seconds(pid, with_children=children)
            for name, (pid, children) in self.pids.items()
        }

    def with_server(self, pid: int) -> Watched:
        return Watched({"server": (pid, False), **self.pids})


class Runner:
    """Runs the measurements of a run against bound scenarios, recording CPU use."""

    def __init__(self, run: Run, watched: Watched) -> None:
        self._run = run
        self._watched = watched

    async def _sampled(self, watched: Watched, measurement: Awaitable[Result]) -> Result:
        before_client = time.process_time()
        before = watched.sample()
        result = await measurement
        after = watched.sample()
        result.client_cpu_s = time.process_time() - before_client
        result.process_cpu_s = {name: after[name] - before[name] for name in after}
        return result

    async def warm_up(self, name: str, call: Call) -> None:
        run = self._run
        print(f"  {name}: warm-up {run.warmup_s:g} s", flush=True)
        warmup = await closed_loop(name, call, concurrency=run.concurrency, duration_s=run.warmup_s)
        if warmup.error_count:
            run.warmup_errors[name] = run.warmup_errors.get(name, 0) + warmup.error_count

    async def open(self, name: str, call: Call, rate: float, server_pid: int) -> Result:
        await asyncio.sleep(0.5)  # let queues drain between measurements
        return await self._sampled(
            self._watched.with_server(server_pid),
            open_loop(name, call, rate=rate, duration_s=self._run.duration_s),
        )

    async def closed(self, name: str, call: Call, duration_s: float, server_pid: int) -> Result:
        await asyncio.sleep(0.5)
        return await self._sampled(
            self._watched.with_server(server_pid),
            closed_loop(name, call, concurrency=self._run.concurrency, duration_s=duration_s),
        )

    def record(self, result: Result) -> None:
        self._run.results.append(result)
        print(f"  {report.result_line(result)}", flush=True)


async def run_scenarios(
    run: Run,
    catalog: Catalog,
    commerce: ServerProcess,
    bare: ServerProcess,
    watched: Watched,
) -> None:
    runner = Runner(run, watched)
    async with (
        grpc.aio.insecure_channel(commerce.address) as commerce_channel,
        grpc.aio.insecure_channel(bare.address) as bare_channel,
    ):
        # GetProduct is measured on the cache-hit path: put every product in Redis first.
        stub = catalog_pb2_grpc.CatalogServiceStub(commerce_channel)
        for sku in catalog.skus:
            await stub.GetProduct(
                catalog_pb2.GetProductRequest(sku=sku), metadata=METADATA, timeout=CALL_TIMEOUT_S
            )

        # The throughput ratio is the headline: the bare and the commerce GetProduct closed
        # loops alternate in slices, so a slow patch of the machine hits both alike.
        pair = [
            (report.BARE, get_product_call(catalog.skus)(bare_channel), bare),
            (report.GET, get_product_call(catalog.skus)(commerce_channel), commerce),
        ]
        opened: dict[str, Result] = {}
        for name, call, server in pair:
            server.check_running()
            await runner.warm_up(name, call)
            opened[name] = await runner.open(name, call, READ_RATE, server.pid)
        slices: dict[str, list[Result]] = {name: [] for name, _, _ in pair}
        slice_s = run.duration_s / run.slices
        for _ in range(run.slices):
            for name, call, server in pair:
                slices[name].append(await runner.closed(name, call, slice_s, server.pid))
        for name, _, _ in pair:
            runner.record(opened[name])
            runner.record(merge(slices[name]))

        others = [
            (report.SEARCH, search_call(commerce_channel), READ_RATE),
            (
                report.CREATE,
                create_order_call(catalog.skus, catalog.customer_ids)(commerce_channel),
                WRITE_RATE,
            ),
        ]
        for name, call, rate in others:
            commerce.check_running()
            await runner.warm_up(name, call)
            runner.record(await runner.open(name, call, rate, commerce.pid))
            runner.record(await runner.closed(name, call, run.duration_s, commerce.pid))


# --- orchestration -----------------------------------------------------------------------------


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def _redis_pid(port: int) -> int | None:
    # redis-server retitles itself "redis-server 127.0.0.1:PORT".
    title = f"redis-server 127.0.0.1:{port}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if title in (entry / "cmdline").read_bytes():
                return int(entry.name)
    return None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def environment(
    tmp: Path, run: Run
) -> Iterator[tuple[Catalog, ServerProcess, ServerProcess, Watched]]:
    """PostgreSQL, Redis, the commerce server and the bare server; all stopped on the way out."""
    with contextlib.ExitStack() as stack:
        print("starting embedded PostgreSQL and Redis", flush=True)
        postgres = EmbeddedPostgres(tmp / "postgres")
        stack.callback(postgres.stop)
        database_url = postgres.database_url("bench")
        redis = EmbeddedRedis(tmp / "redis")
        stack.callback(redis.stop)
        redis.start()
        print("migrating and seeding the demo data", flush=True)
        upgrade(database_url)
        asyncio.run(seed(database_url, redis.url))

        commerce_port = free_port()
        commerce = ServerProcess(
            "commerce server",
            ["-m", "cienty_kit", "commerce", "serve"],
            port=commerce_port,
            log_file=tmp / "commerce.log",
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "CIENTY_ENVIRONMENT": "development",
                "CIENTY_DATABASE_URL": database_url,
                "CIENTY_REDIS_URL": redis.url,
                "CIENTY_GRPC_HOST": "127.0.0.1",
                "CIENTY_GRPC_PORT": str(commerce_port),
                "CIENTY_METRICS_PORT": "0",
                "CIENTY_LOG_LEVEL": "WARNING",
                "CIENTY_SHUTDOWN_GRACE_SECONDS": "1",
            },
        )
        stack.callback(commerce.stop)
        commerce.start()
        catalog = asyncio.run(prepare(commerce.address))
        run.products, run.customers = len(catalog.skus), len(catalog.customer_ids)
        run.sample_product_size = len(catalog.sample_product)

        payload_file = tmp / "product.bin"
        payload_file.write_bytes(catalog.sample_product)
        bare_port = free_port()
        bare = ServerProcess(
            "bare server",
            ["-m", "bench.bare", str(bare_port), str(payload_file)],
            port=bare_port,
            log_file=tmp / "bare.log",
            cwd=REPO_ROOT,
        )
        stack.callback(bare.stop)
        bare.start()

        pids: dict[str, tuple[int, bool]] = {
            "postgres": (_postmaster_pid(tmp / "postgres" / "pgdata"), True)
        }
        redis_pid = _redis_pid(redis.port)
        if redis_pid is not None:
            pids["redis"] = (redis_pid, False)
        yield catalog, commerce, bare, Watched(pids)


def execute(options: Options) -> Run:
    run = Run(
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
        concurrency=options.concurrency,
        read_rate=READ_RATE,
        write_rate=WRITE_RATE,
    )
    with (
        tempfile.TemporaryDirectory(prefix="cienty-bench-") as tmp_name,
        environment(Path(tmp_name), run) as (catalog, commerce, bare, watched),
    ):
        print(
            f"measuring: {options.duration_s:g} s per measurement, "
            f"{options.concurrency} closed-loop callers",
            flush=True,
        )
        asyncio.run(run_scenarios(run, catalog, commerce, bare, watched))
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
    verdicts = report.verdicts(run.results)
    text = report.markdown(run, verdicts)
    print()
    print(report.table(run.results))
    print()
    for verdict in verdicts:
        print(verdict.line())
    if options.output is not None:
        write_section(options.output, "commerce", text)
        print(f"\nwrote {options.output}")
    errors = sum(result.error_count for result in run.results) + sum(run.warmup_errors.values())
    if errors:
        print(f"\n{errors} requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
