"""Load generation: closed-loop (N callers, as fast as they can) and open-loop (fixed rate).

Open-loop latency is measured from each request's *scheduled* send time, not from when it was
actually sent, so a stalled server or client is charged for the whole delay it causes
(no coordinated omission).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

Call = Callable[[], Awaitable[object]]


@dataclass
class Result:
    scenario: str
    mode: str
    duration_s: float
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    target_rate: float | None = None
    client_cpu_s: float = 0.0
    process_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies_s, q) * 1000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def _one(call: Call, result: Result, started: float) -> None:
    try:
        await call()
    except grpc.aio.AioRpcError as error:
        result.errors[error.code().name] += 1
        return
    except Exception as error:
        result.errors[type(error).__name__] += 1
        return
    result.latencies_s.append(time.perf_counter() - started)


async def closed_loop(scenario: str, call: Call, *, concurrency: int, duration_s: float) -> Result:
    """`concurrency` callers, each sending its next request as soon as the last one answers."""
    result = Result(scenario, f"closed, {concurrency} callers", duration_s)
    start = time.perf_counter()
    deadline = start + duration_s

    async def caller() -> None:
        while (now := time.perf_counter()) < deadline:
            await _one(call, result, now)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    result.duration_s = time.perf_counter() - start
    return result


async def open_loop(scenario: str, call: Call, *, rate: float, duration_s: float) -> Result:
    """Sends at `rate` per second for `duration_s`, whatever the answers do."""
    result = Result(scenario, f"open, {rate:g} req/s", duration_s, target_rate=rate)
    total = round(rate * duration_s)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.01
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_one(call, result, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    # Throughput over the schedule's span plus however long the stragglers took.
    result.duration_s = max(time.perf_counter() - start, duration_s)
    return result


def merge(parts: list[Result]) -> Result:
    """One result from consecutive slices of the same measurement."""
    first = parts[0]
    merged = Result(first.scenario, first.mode, 0.0, target_rate=first.target_rate)
    for part in parts:
        merged.duration_s += part.duration_s
        merged.latencies_s.extend(part.latencies_s)
        merged.errors.update(part.errors)
        merged.client_cpu_s += part.client_cpu_s
        for name, seconds in part.process_cpu_s.items():
            merged.process_cpu_s[name] = merged.process_cpu_s.get(name, 0.0) + seconds
    return merged
