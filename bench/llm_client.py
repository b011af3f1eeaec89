"""What the LLM client costs: added latency over a direct SDK call, and failover time.

Both provider stand-ins (bench/llm_stub.py) run in processes of their own; the measuring
process alternates the compared calls in random order, so a slow patch of this shared machine
hits both alike.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anthropic
import openai

from cienty_dev.embedded import free_port
from cienty_llm.factory import build_llm_client
from cienty_llm.settings import LLMSettings
from cienty_llm.types import ChatRequest, Message

MODEL = "llama-3.1-8b-instruct"
CLAUDE = "claude-sonnet-5"
QUESTION = "Qual é o pedido mínimo e em quanto tempo vocês entregam?"
REQUEST = ChatRequest([Message.system("Responda em português."), Message.user(QUESTION)])
ADDED_LATENCY_TARGET_MS = 2.0
HANG_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Sample:
    name: str
    seconds: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


@dataclass(frozen=True)
class ClientResults:
    overhead: tuple[Sample, Sample]  # direct SDK, LLMClient
    failover: list[tuple[str, Sample]]
    rounds: int

    @property
    def added_ms(self) -> float:
        direct, client = self.overhead
        return client.p50_ms - direct.p50_ms


@contextmanager
def stub(kind: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.llm_stub", kind], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _settings(primary_url: str, fallback_url: str, **overrides: object) -> LLMSettings:
    options: dict[str, object] = {
        "primary_url": primary_url,
        "primary_model": MODEL,
        "fallback_model": CLAUDE,
        "anthropic_api_key": "bench",
        "anthropic_base_url": fallback_url,
    }
    options.update(overrides)
    return LLMSettings(**options)  # type: ignore[arg-type]


async def _direct_openai(sdk: openai.AsyncOpenAI) -> None:
    # The same work the client does: a streamed answer, consumed and joined.
    stream = await sdk.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Responda em português."},
            {"role": "user", "content": QUESTION},
        ],
        max_tokens=1024,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts)


async def _direct_anthropic(sdk: anthropic.AsyncAnthropic) -> None:
    stream = await sdk.messages.create(
        model=CLAUDE,
        max_tokens=1024,
        system="Responda em português.",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
    )
    async with stream:
        async for _ in stream:
            pass


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def _overhead(openai_url: str, anthropic_url: str, rounds: int) -> tuple[Sample, Sample]:
    sdk = openai.AsyncOpenAI(base_url=openai_url, api_key="x", max_retries=0)
    client = build_llm_client(_settings(openai_url, anthropic_url))
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "direct": lambda: _direct_openai(sdk),
        "client": lambda: client.complete(REQUEST),
    }
    times: dict[str, list[float]] = {"direct": [], "client": []}
    try:
        for _ in range(max(10, rounds // 10)):  # warm-up: connections, caches, JIT of schemas
            for call in calls.values():
                await call()
        for _ in range(rounds):
            order = list(calls)
            random.shuffle(order)
            for name in order:
                times[name].append(await _timed(calls[name]))
    finally:
        await sdk.close()
        await client.aclose()
    return Sample("direct openai SDK", times["direct"]), Sample("LLMClient", times["client"])


async def _failover(anthropic_url: str, rounds: int) -> list[tuple[str, Sample]]:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    sdk = anthropic.AsyncAnthropic(base_url=anthropic_url, api_key="bench", max_retries=0)
    direct: list[float] = []
    closed: list[float] = []
    open_: list[float] = []
    hung: list[float] = []
    steady = build_llm_client(_settings(dead, anthropic_url))
    try:
        for _ in range(5):
            await _direct_anthropic(sdk)
            await steady.complete(REQUEST)  # trips the breaker: the steady state of an outage
        for _ in range(rounds):
            # A fresh client per call: the breaker has not seen the outage yet.
            fresh = build_llm_client(_settings(dead, anthropic_url))
            direct.append(await _timed(lambda: _direct_anthropic(sdk)))
            closed.append(await _timed(lambda c=fresh: c.complete(REQUEST)))  # type: ignore[misc]
            open_.append(await _timed(lambda: steady.complete(REQUEST)))
            await fresh.aclose()
        with stub("hang") as hang_url:
            for _ in range(3):
                hanging = build_llm_client(
                    _settings(
                        hang_url + "/v1", anthropic_url, first_token_timeout_seconds=HANG_TIMEOUT_S
                    )
                )
                hung.append(await _timed(lambda c=hanging: c.complete(REQUEST)))  # type: ignore[misc]
                await hanging.aclose()
    finally:
        await sdk.close()
        await steady.aclose()
    return [
        ("direct anthropic SDK (baseline)", Sample("direct", direct)),
        ("primary refused, breaker closed (first calls of an outage)", Sample("closed", closed)),
        ("primary refused, breaker open (rest of the outage)", Sample("open", open_)),
        (f"primary hangs, first-token timeout {HANG_TIMEOUT_S:g} s", Sample("hang", hung)),
    ]


def measure(rounds: int) -> ClientResults:
    with stub("openai") as openai_url, stub("anthropic") as anthropic_url:
        overhead = asyncio.run(_overhead(openai_url + "/v1", anthropic_url, rounds))
        failover = asyncio.run(_failover(anthropic_url, max(5, rounds // 10)))
    return ClientResults(overhead, failover, rounds)


def _row(label: str, sample: Sample) -> str:
    p50, p95 = sample.p50_ms, sample.percentile(0.95) * 1000
    return f"| {label} | {len(sample.seconds)} | {p50:.2f} | {p95:.2f} |"


def markdown(results: ClientResults) -> str:
    direct, client = results.overhead
    passed = results.added_ms < ADDED_LATENCY_TARGET_MS
    lines = [
        "### LLM client overhead and failover",
        "",
        "- Stand-ins: the wire-format fakes of `tests/fakes` (OpenAI-compatible as the "
        "self-hosted model, Anthropic Messages as Claude), each in a process of its own on "
        "this machine, answering a fixed 16-word reply as an SSE stream.",
        "- Overhead: the same streamed chat completion, sent with the `openai` SDK directly and "
        f"with `LLMClient.complete()`, {results.rounds} rounds, the two calls of each round in "
        "random order, after a warm-up.",
        "- Failover: Claude answering directly (baseline), and through the client while the "
        "self-hosted endpoint refuses connections: with the breaker still closed (a fresh "
        "client per call, default settings: one retry after up to 0.25 s of jittered backoff), "
        "with the breaker open, and with a primary that accepts the request and never answers.",
        "",
        "| Call | n | p50 ms | p95 ms |",
        "|---|---|---|---|",
        _row("direct `openai` SDK", direct),
        _row("`LLMClient.complete()`", client),
        *(_row(label, sample) for label, sample in results.failover),
        "",
        f"- {'PASS' if passed else 'FAIL'}  client added latency at p50: "
        f"{results.added_ms:.2f} ms (target < {ADDED_LATENCY_TARGET_MS:g} ms; "
        f"ratio {client.p50_ms / direct.p50_ms:.2f}x the direct call).",
    ]
    baseline = results.failover[0][1].p50_ms
    for label, sample in results.failover[1:]:
        lines.append(f"- Failover, {label}: {sample.p50_ms - baseline:+.1f} ms over Claude alone.")
    return "\n".join(lines)
