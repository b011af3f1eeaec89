"""WhatsApp gateway benchmark: `make bench` / `python -m bench.gateway`.

Webhook acknowledgement, the part Meta times: embedded Redis, then two uvicorn servers with the
same settings, each in a process of its own (`bench.gateway_server`): the gateway's webhook app
(signature, parsing, de-duplication and the append to the inbound streams) and a bare FastAPI
endpoint that reads the body and returns the same 200, the baseline. This process only
sends Meta-like signed webhooks, one text message each (a unique wamid, one of many chats), with
a lean keep-alive HTTP/1.1 client (`bench.gateway_client`):

- open loop at a fixed rate (500 req/s): p50/p95/p99 against the target p99 < 20 ms;
- closed loop (N callers as fast as they go), the two servers alternating in slices: the
  webhook's throughput against the target of at least half the bare endpoint's.

Afterwards it checks that every acknowledged webhook is on a stream.

Then, with servers of its own, end to end (`bench.gateway_e2e`): from the webhook POST to the
agent's reply leaving through the Graph API (a stand-in this process serves), through the
gateway's webhook and worker processes, conversations with a zero-latency model and commerce:
p50/p95/p99 one at a time against `HandleMessage` alone in the same run, turns/s with N chats
at once, and where the time goes. No target: figures.

Writes its section of docs/benchmarks.md. Exits 1 when a request or a turn failed or an
acknowledged webhook is missing; a missed target is reported (FAIL), not fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from redis.asyncio import Redis

from bench import gateway_e2e
from bench.commerce import Runner, Watched, _redis_pid
from bench.document import DEFAULT_PAGE, write_section
from bench.gateway_client import Pool, post
from bench.load import Call, Result, merge
from bench.processes import ServerProcess
from bench.report import Run, Verdict, machine
from cienty_dev.embedded import EmbeddedRedis, free_port
from cienty_kit.logging import configure_logging
from cienty_whatsapp import keys
from cienty_whatsapp.settings import DEVELOPMENT_APP_SECRET
from cienty_whatsapp.webhook.signature import HEADER, sign

REPO_ROOT = Path(__file__).resolve().parent.parent
RATE = 500.0
TARGET_P99_MS = 20.0
TARGET_RATIO = 0.5
CALL_TIMEOUT_S = 10.0
PARTITIONS = 16
CHATS = 2000
BARE = "bare FastAPI endpoint"
WEBHOOK = "webhook POST"
TEXTS = (
    "Bom dia! Qual o preço da dipirona 500 mg? Tem em estoque?",
    "Quero repetir o último pedido, por favor.",
    "Vocês entregam amanhã em Campinas?",
    "Qual o status do pedido 4821?",
    "Preciso de 12 caixas de paracetamol 750 mg e 6 de omeprazol 20 mg.",
)
# One text message, as Meta sends it (compact JSON, accents as UTF-8).
ENVELOPE = (
    '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{'
    '"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",'
    '"phone_number_id":"100000000000001"},"contacts":[{"profile":{"name":"Farmácia %(n)d"},'
    '"wa_id":"%(phone)s"}],"messages":[{"from":"%(phone)s","id":"wamid.%(wamid)s",'
    '"timestamp":"%(ts)d","type":"text","text":{"body":"%(text)s"}}]},"field":"messages"}]}]}'
)


@dataclass(frozen=True)
class Options:
    duration_s: float
    warmup_s: float
    rate: float
    concurrency: int
    output: Path | None
    end_to_end: gateway_e2e.Options | None


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__)
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per measurement (default 10)"
    )
    parser.add_argument(
        "--rate", type=float, default=RATE, help=f"open-loop req/s (default {RATE:g})"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="closed-loop callers (default 32)"
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=500,
        help="end to end: turns one at a time, and as many HandleMessage calls (default 500)",
    )
    parser.add_argument(
        "--chats", default="8,32", help="end to end: concurrent chats, comma-separated (8,32)"
    )
    parser.add_argument(
        "--customers", type=int, default=64, help="end to end: customers sending (default 64)"
    )
    parser.add_argument(
        "--no-end-to-end", action="store_true", help="only the webhook acknowledgement"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 s measurements, 40 turns, 2 and 8 chats; writes no report unless "
        "--output is given",
    )
    parser.add_argument("--output", type=Path, default=None, help="default docs/benchmarks.md")
    args = parser.parse_args(argv)
    duration: float = 2.0 if args.quick else args.duration
    if duration <= 0 or args.rate <= 0 or args.concurrency < 1:
        parser.error("--duration, --rate and --concurrency must be positive")
    try:
        chats = tuple(int(part) for part in str(args.chats).split(",") if part)
    except ValueError:
        parser.error("--chats takes numbers separated by commas, e.g. 8,32")
    turns, customers = args.turns, args.customers
    if args.quick:
        turns, chats, customers = 40, (2, 8), 16
    if turns < gateway_e2e.SLICES or not chats or min(chats) < 1:
        parser.error(f"--turns must be at least {gateway_e2e.SLICES}; --chats positive")
    if customers < max(chats):
        parser.error("--customers must be at least the largest of --chats (a chat each)")
    output: Path | None = args.output
    if output is None and not args.quick:
        output = REPO_ROOT / DEFAULT_PAGE
    warmup_s = min(2.0, max(0.5, duration / 5))
    return Options(
        duration_s=duration,
        warmup_s=warmup_s,
        rate=args.rate,
        concurrency=args.concurrency,
        output=output,
        end_to_end=None
        if args.no_end_to_end
        else gateway_e2e.Options(
            turns=turns,
            duration_s=duration,
            warmup_s=warmup_s,
            concurrency=chats,
            customers=customers,
        ),
    )


# --- the requests ------------------------------------------------------------------------------


class Webhooks:
    """Signed webhooks, each a new message (unique wamid) from one of `CHATS` chats."""

    def __init__(self, host: str, app_secret: str) -> None:
        self._host = host
        self._secret = app_secret
        self._sequence = itertools.count()
        self._tag = os.urandom(4).hex()
        self.sent = 0

    def body(self, number: int) -> bytes:
        chat = number % CHATS
        values = {
            "n": chat,
            "phone": f"55119{chat:08d}",
            "wamid": f"HBgN{self._tag}{number:012d}",
            "ts": int(time.time()),
            "text": TEXTS[number % len(TEXTS)],
        }
        return (ENVELOPE % values).encode()

    def next_request(self, port: int) -> bytes:
        body = self.body(next(self._sequence))
        self.sent += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            HEADER: sign(body, self._secret),
        }
        return post(self._host, port, "/webhook", body, headers)


_STATUS_ERRORS: dict[int, type[Exception]] = {}


def _status_error(status: int) -> Exception:
    """An exception named after the status (bench.load counts errors by type name)."""
    if status not in _STATUS_ERRORS:
        _STATUS_ERRORS[status] = type(f"HTTP{status}", (Exception,), {})
    return _STATUS_ERRORS[status]()


def webhook_call(pool: Pool, webhooks: Webhooks, answered: list[int]) -> Call:
    """Sends the next webhook; `answered[0]` counts the 200s (warm-ups included)."""

    async def call() -> object:
        status = await asyncio.wait_for(
            pool.request(webhooks.next_request(pool.port)), CALL_TIMEOUT_S
        )
        if status != 200:
            raise _status_error(status)
        answered[0] += 1
        return status

    return call


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Setup:
    redis: EmbeddedRedis
    webhook: ServerProcess
    bare: ServerProcess
    watched: Watched


@dataclass
class Report:
    options: Options
    run: Run
    payload_bytes: int = 0
    acknowledged: int = 0  # 200s from the webhook server, warm-ups included
    stored: int = 0  # entries on the inbound streams afterwards
    connections: dict[str, int] = field(default_factory=dict)
    end_to_end: gateway_e2e.Run | None = None
    started_utc: float = field(default_factory=time.time)

    @property
    def errors(self) -> int:
        results = self.run.results
        errors = sum(r.error_count for r in results) + sum(self.run.warmup_errors.values())
        if self.end_to_end is not None:
            errors += self.end_to_end.errors
        return errors


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def environment(tmp: Path) -> Iterator[Setup]:
    """Redis and the two servers; all stopped on the way out."""
    with contextlib.ExitStack() as stack:
        print("starting embedded Redis and the two servers", flush=True)
        redis = EmbeddedRedis(tmp / "redis")
        stack.callback(redis.stop)
        redis.start()
        servers = {}
        for kind in ("webhook", "bare"):
            port = free_port()
            server = ServerProcess(
                f"{kind} server",
                ["-m", "bench.gateway_server", kind, str(port)],
                port=port,
                log_file=tmp / f"{kind}.log",
                cwd=REPO_ROOT,
                env={
                    **os.environ,
                    "CIENTY_ENVIRONMENT": "development",
                    "CIENTY_REDIS_URL": redis.url,
                    "CIENTY_INBOUND_PARTITIONS": str(PARTITIONS),
                    "CIENTY_LOG_LEVEL": "WARNING",
                    "CIENTY_METRICS_PORT": "0",
                },
            )
            stack.callback(server.stop)
            server.start()
            servers[kind] = server
        pids: dict[str, tuple[int, bool]] = {}
        redis_pid = _redis_pid(redis.port)
        if redis_pid is not None:
            pids["redis"] = (redis_pid, False)
        yield Setup(redis, servers["webhook"], servers["bare"], Watched(pids))


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the machine's CPUs spent busy since boot (the hypervisor's steal included)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


async def with_other_load(measurement: Awaitable[Result]) -> Result:
    """The measurement, with the CPU time the rest of the machine used meanwhile (neither this
    process, nor the server, nor Redis) recorded as `process_cpu_s["other"]`: the noise."""
    busy, started = machine_busy_s(), time.perf_counter()
    result = await measurement
    elapsed = time.perf_counter() - started
    ours = result.client_cpu_s + sum(result.process_cpu_s.values())
    other = max(0.0, machine_busy_s() - busy - ours)
    result.process_cpu_s["other"] = other / elapsed * result.duration_s if elapsed > 0 else 0.0
    return result


async def count_stored(redis_url: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        lengths = [await redis.xlen(keys.inbound_stream(p)) for p in range(PARTITIONS)]
    finally:
        await redis.aclose()
    return sum(lengths)


async def measure(report: Report, setup: Setup) -> None:
    options, run = report.options, report.run
    runner = Runner(run, setup.watched)
    webhooks = Webhooks("127.0.0.1", DEVELOPMENT_APP_SECRET)
    report.payload_bytes = len(webhooks.body(0))
    pools = {
        BARE: Pool("127.0.0.1", setup.bare.port),
        WEBHOOK: Pool("127.0.0.1", setup.webhook.port),
    }
    servers = {BARE: setup.bare, WEBHOOK: setup.webhook}
    answered = {name: [0] for name in pools}
    calls = {name: webhook_call(pool, webhooks, answered[name]) for name, pool in pools.items()}
    try:
        opened: dict[str, Result] = {}
        for name in (BARE, WEBHOOK):
            servers[name].check_running()
            await runner.warm_up(name, calls[name])
            opened[name] = await with_other_load(
                runner.open(name, calls[name], options.rate, servers[name].pid)
            )
            print(f"  {_line(opened[name])}", flush=True)
        # The throughput ratio is the headline: the closed loops alternate in slices, so a slow
        # patch of the shared machine hits both alike.
        slices: dict[str, list[Result]] = {BARE: [], WEBHOOK: []}
        for _ in range(run.slices):
            for name in (BARE, WEBHOOK):
                servers[name].check_running()
                slices[name].append(
                    await with_other_load(
                        runner.closed(
                            name, calls[name], run.duration_s / run.slices, servers[name].pid
                        )
                    )
                )
        for name in (BARE, WEBHOOK):
            run.results.append(opened[name])
            closed = merge(slices[name])
            run.results.append(closed)
            print(f"  {_line(closed)}", flush=True)
    finally:
        report.connections = {name: pool.opened for name, pool in pools.items()}
        for pool in pools.values():
            pool.close()
    # Every 200 of the webhook server is a stored message (each request is a new one).
    report.acknowledged = answered[WEBHOOK][0]
    report.stored = await count_stored(setup.redis.url)
    # The end-to-end part follows in `execute`, with its own servers once these are stopped.


def execute(options: Options) -> Report:
    run = Run(
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
        concurrency=options.concurrency,
        read_rate=options.rate,
        write_rate=0.0,
        # More, shorter slices than the other benchmarks: the two closed loops take turns often,
        # so other work on a small shared machine falls on both alike.
        slices=6,
    )
    report = Report(options, run)
    with (
        tempfile.TemporaryDirectory(prefix="cienty-bench-gateway-") as tmp_name,
        environment(Path(tmp_name)) as setup,
    ):
        print(
            f"measuring: {options.duration_s:g} s per measurement, open loop at "
            f"{options.rate:g} req/s, {options.concurrency} closed-loop callers",
            flush=True,
        )
        asyncio.run(measure(report, setup))
    if options.end_to_end is not None:
        report.end_to_end = gateway_e2e.execute(options.end_to_end)
    return report


# --- report ------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _line(result: Result) -> str:
    return (
        f"{result.scenario:<22} {result.mode:<18} {result.throughput:8.0f} req/s  "
        f"p50 {_ms(result.percentile_ms(50))}  p95 {_ms(result.percentile_ms(95))}  "
        f"p99 {_ms(result.percentile_ms(99))} ms  errors {result.error_count}"
    )


def _find(run: Run, scenario: str, loop: str) -> Result | None:
    for result in run.results:
        if result.scenario == scenario and result.mode.startswith(loop):
            return result
    return None


def ratio(run: Run) -> float | None:
    bare, webhook = _find(run, BARE, "closed"), _find(run, WEBHOOK, "closed")
    if bare is None or webhook is None or bare.throughput == 0:
        return None
    return webhook.throughput / bare.throughput


def cpu_ratio(run: Run) -> float | None:
    """Bare / webhook server CPU time per request (closed loops): the same ratio as the
    throughputs', from the figure least disturbed by the rest of the machine."""
    bare, webhook = _find(run, BARE, "closed"), _find(run, WEBHOOK, "closed")
    if bare is None or webhook is None or not bare.ok or not webhook.ok:
        return None
    bare_s = bare.process_cpu_s.get("server", 0.0) / bare.ok
    webhook_s = webhook.process_cpu_s.get("server", 0.0) / webhook.ok
    return bare_s / webhook_s if webhook_s > 0 else None


def verdicts(report: Report) -> list[Verdict]:
    run = report.run
    found: list[Verdict] = []
    result = _find(run, WEBHOOK, "open")
    target = f"webhook p99 < {TARGET_P99_MS:g} ms at {report.options.rate:g} req/s"
    if result is None or not result.ok:
        found.append(Verdict(target, "not measured", None))
    else:
        p99 = result.percentile_ms(99)
        errors = f", {result.error_count} errors" if result.error_count else ""
        found.append(
            Verdict(
                target,
                f"p99 {p99:.2f} ms ({result.throughput:.0f} req/s achieved{errors})",
                p99 < TARGET_P99_MS and not result.error_count,
            )
        )
    value = ratio(run)
    found.append(
        Verdict(
            f"webhook throughput >= {TARGET_RATIO:.0%} of the bare endpoint's",
            "not measured" if value is None else f"{value:.0%}",
            None if value is None else value >= TARGET_RATIO,
        )
    )
    return found


def table(run: Run) -> str:
    rows = [
        "| Scenario | Mode | req/s | p50 ms | p95 ms | p99 ms | Errors "
        "| CPU % client / server / redis / other | Server CPU µs/req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in run.results:
        errors = str(result.error_count)
        if result.errors:
            errors += " (" + ", ".join(f"{k}: {v}" for k, v in result.errors.items()) + ")"
        cpu = [
            result.client_cpu_s,
            *(result.process_cpu_s.get(n) for n in ("server", "redis", "other")),
        ]
        percents = " / ".join(
            "-" if seconds is None else f"{seconds / result.duration_s * 100:.0f}"
            for seconds in cpu
        )
        server = result.process_cpu_s.get("server")
        per_request = f"{server / result.ok * 1e6:.0f}" if server is not None and result.ok else "-"
        rows.append(
            f"| {result.scenario} | {result.mode} | {result.throughput:.0f} "
            f"| {_ms(result.percentile_ms(50))} | {_ms(result.percentile_ms(95))} "
            f"| {_ms(result.percentile_ms(99))} | {errors} | {percents} | {per_request} |"
        )
    return "\n".join(rows)


def end_to_end_lines(report: Report) -> list[str]:
    """The end-to-end part (webhook → outbound send with a zero-latency scripted model)."""
    if report.end_to_end is None:
        return [
            "### End to end (webhook → outbound send)",
            "",
            "Not measured in this run (`--no-end-to-end`).",
            "",
        ]
    return gateway_e2e.markdown_lines(report.end_to_end)


def markdown(report: Report, found: list[Verdict]) -> str:
    options, run = report.options, report.run
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.started_utc))
    value = ratio(run)
    lines = [
        "## WhatsApp gateway",
        "",
        "`python -m bench.gateway`.",
        "",
        "### Run",
        "",
        f"- Date: {started}",
        *(f"- {item}" for item in machine()[:3]),
        f"- Python {platform.python_version()} ({platform.python_implementation()}); FastAPI "
        f"{_version('fastapi')}, Starlette {_version('starlette')}, uvicorn "
        f"{_version('uvicorn')} (asyncio loop, h11: uvloop and httptools are not installed), "
        f"pydantic {_version('pydantic')}, redis-py {_version('redis')}",
        "",
        "### Method",
        "",
        "- Embedded Redis (`cienty_dev.embedded`, append-only file on) in a temporary "
        "directory. Two servers, each one uvicorn process with the same settings "
        "(`bench/gateway_server.py`: 1 worker, asyncio, h11, no access log, log level "
        "WARNING): the gateway's webhook app as the service builds it "
        "(`create_webhook_app`, `cienty_kit.redis.create_redis`; default settings, "
        f"{PARTITIONS} partitions, no metrics port), and the baseline, a bare FastAPI app "
        'whose `POST /webhook` reads the body and returns the same `200 {"ok":true}`. Both '
        "are plain Starlette routes (no FastAPI dependency resolution on either).",
        f"- Every request is a webhook as Meta sends it ({report.payload_bytes} bytes): one "
        f"text message, a unique wamid, from one of {CHATS} chats, signed with "
        "`X-Hub-Signature-256`; both servers get the same kind of request. The webhook "
        "server checks the signature, parses and validates the envelope, and runs the intake "
        "script (de-duplication key with its 8-day TTL, `XADD` to the chat's stream) before "
        "answering: one Redis call per request, or one per group of requests that arrived "
        "while the previous call was in flight (group commit; each request whole in one "
        "call).",
        "- The load generator is this process, a lean keep-alive HTTP/1.1 client "
        "(`bench/gateway_client.py`: pre-built request bytes, a connection per request in "
        "flight, opened as needed), on the same machine as the servers and Redis. Each "
        "request times out after 10 s.",
        f"- Each server: a {run.warmup_s:g} s closed-loop warm-up (discarded), then:",
        f"  - **open** loop: requests sent on a fixed schedule ({options.rate:g} req/s) for "
        f"{run.duration_s:g} s whatever the answers do; latency counts from each request's "
        "*scheduled* send time (no coordinated omission);",
        f"  - **closed** loop: {run.concurrency} concurrent callers, each sending its next "
        f"request when the last one is answered, for {run.duration_s:g} s: the maximum "
        f"throughput. The two servers alternate in {run.slices} slices of "
        f"{run.duration_s / run.slices:.3g} s each and each row sums its slices.",
        "- req/s counts 200s only; percentiles are nearest-rank over them. CPU % is CPU time "
        "over wall time (100 = one core) of the client, the server under test and Redis, "
        "and *other*: the rest of the machine's busy time (other processes, the hypervisor's "
        "steal), the noise; "
        "Server CPU µs/req is the server's CPU time per answered request (compare the "
        "closed-loop rows: at the open-loop rate it also carries the cost of waking up).",
        "",
        "### Results",
        "",
        table(run),
        "",
        "Webhook / bare endpoint throughput (closed loop): "
        + ("not measured" if value is None else f"**{value:.0%}**"),
        "",
        "Bare / webhook server CPU time per request (closed loop; the same ratio, from the "
        "figure the rest of the machine disturbs least): "
        + ("not measured" if (cpu := cpu_ratio(run)) is None else f"{cpu:.0%}"),
        "",
        f"Every acknowledged webhook is on a stream: {report.stored} stream entries for "
        f"{report.acknowledged} webhooks answered 200"
        + (" (**MISSING ENTRIES**)" if report.stored < report.acknowledged else "")
        + ".",
        "",
    ]
    if run.warmup_errors:
        lines += [
            "Errors during warm-ups: "
            + ", ".join(f"{name}: {count}" for name, count in run.warmup_errors.items()),
            "",
        ]
    lines += end_to_end_lines(report)
    lines += ["### Targets", ""]
    lines += [f"- {verdict.line().replace('  ', ' ', 1)}" for verdict in found]
    lines.append("")
    return "\n".join(lines)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    configure_logging("WARNING", "console")
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = execute(options)
    except KeyboardInterrupt:
        print("interrupted; every process was stopped", file=sys.stderr)
        return 130
    found = verdicts(report)
    text = markdown(report, found)
    print()
    print(table(report.run))
    print()
    for verdict in found:
        print(verdict.line())
    print(json.dumps({"acknowledged": report.acknowledged, "stored": report.stored}))
    if report.end_to_end is not None:
        print("\n" + "\n".join(gateway_e2e.markdown_lines(report.end_to_end)))
    if options.output is not None:
        write_section(options.output, "gateway", text)
        print(f"\nwrote {options.output}")
    failed = 0
    if report.errors:
        print(f"\n{report.errors} requests or turns failed", file=sys.stderr)
        failed = 1
    if report.stored < report.acknowledged:
        print(
            f"\n{report.acknowledged - report.stored} acknowledged webhooks are not on a stream",
            file=sys.stderr,
        )
        failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
