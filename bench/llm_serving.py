"""What Ray Serve LLM costs on top of bare vLLM: same tiny model, same engine args, same prompts.

Both servers run from .venv-models on the CPU: `cienty llm serve --profile cpu --app llm` (Ray
Serve: proxy, OpenAI ingress, LLMServer replica) and vLLM's own OpenAI server with the engine
arguments of the cpu profile. They cannot share 2 cores fairly, so they run one at a time,
alternating (ray, bare, ray, bare...), each warmed up before measuring.

Run: .venv/bin/python -m bench.llm_serving [--quick] [--output FILE]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.document import part_main

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_BIN = REPO_ROOT / ".venv-models" / "bin"
CPU_PROFILE = REPO_ROOT / "models" / "serve" / "cpu.yaml"
MODEL_ID = "cienty-local"
MAX_TOKENS = 32
CONCURRENCY = 4
START_DEADLINE_S = 240.0
PROMPTS = [
    "Quais genéricos de dipirona vocês têm em estoque?",
    "Quero repetir o último pedido da farmácia, com 10 caixas a mais de soro.",
    "Qual o prazo de entrega para Recife?",
    "Me mostre os produtos em promoção desta semana.",
]


@dataclass
class Sample:
    ttft_s: float
    tokens: int


@dataclass
class Result:
    sequential: list[Sample] = field(default_factory=list)
    sequential_wall_s: float = 0.0
    concurrent: list[Sample] = field(default_factory=list)
    concurrent_wall_s: float = 0.0


def _engine_flags() -> list[str]:
    """The cpu profile's engine_kwargs as vLLM command-line flags: identical engine settings."""
    profile = yaml.safe_load(CPU_PROFILE.read_text())
    llm = next(app for app in profile["applications"] if app["name"] == "llm")
    flags: list[str] = []
    for key, value in llm["args"]["llm_configs"][0]["engine_kwargs"].items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif isinstance(value, dict):
            flags += [flag, json.dumps(value)]
        else:
            flags += [flag, str(value)]
    return flags


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(kind: str, model_dir: Path, port: int) -> list[str]:
    if kind == "ray":
        return [str(MODELS_BIN / "cienty"), "llm", "serve", "--profile", "cpu", "--app", "llm",
                "--model-path", str(model_dir), "--port", str(port)]  # fmt: skip
    return [str(MODELS_BIN / "python"), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_dir), "--served-model-name", MODEL_ID,
            "--host", "127.0.0.1", "--port", str(port), *_engine_flags()]  # fmt: skip


@contextlib.contextmanager
def _server(kind: str, model_dir: Path, log_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1",
           "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
    log_path = log_dir / f"{kind}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(kind, model_dir, port), stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": "oi"}], "max_tokens": 1}
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log_path}")
            with contextlib.suppress(httpx.TransportError):
                if client.post("/v1/chat/completions", json=body).status_code == 200:
                    return
            time.sleep(1.0)
    raise RuntimeError(f"server not ready in {START_DEADLINE_S:.0f} s; see {log_path}")


async def _stream_once(client: httpx.AsyncClient, prompt: str) -> Sample:
    body = {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": MAX_TOKENS,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    ttft: float | None = None
    tokens = 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        buffer = b""
        # Split on b"\n" only: the random model's text holds U+2028 and U+0085, which
        # aiter_lines (str.splitlines) would treat as line breaks inside the JSON.
        async for data in response.aiter_bytes():
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                chunk: dict[str, Any] = json.loads(line[6:])
                if ttft is None and chunk.get("choices"):
                    ttft = time.perf_counter() - started
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
    if ttft is None or tokens != MAX_TOKENS:
        raise RuntimeError(f"expected {MAX_TOKENS} streamed tokens, got {tokens}")
    return Sample(ttft, tokens)


async def _measure(url: str, requests: int) -> Result:
    result = Result()
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        for prompt in PROMPTS:  # warm-up: compile paths, fill prefix cache for the prompts
            await _stream_once(client, prompt)
        started = time.perf_counter()
        for i in range(requests):
            result.sequential.append(await _stream_once(client, PROMPTS[i % len(PROMPTS)]))
        result.sequential_wall_s = time.perf_counter() - started

        async def worker(offset: int) -> list[Sample]:
            return [
                await _stream_once(client, PROMPTS[(offset + i) % len(PROMPTS)])
                for i in range(requests // CONCURRENCY)
            ]

        started = time.perf_counter()
        batches = await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
        result.concurrent_wall_s = time.perf_counter() - started
        result.concurrent = [sample for batch in batches for sample in batch]
    return result


def _merge(into: Result, other: Result) -> None:
    into.sequential += other.sequential
    into.sequential_wall_s += other.sequential_wall_s
    into.concurrent += other.concurrent
    into.concurrent_wall_s += other.concurrent_wall_s


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _figures(result: Result) -> dict[str, float]:
    seq_ttft = [s.ttft_s * 1000 for s in result.sequential]
    con_ttft = [s.ttft_s * 1000 for s in result.concurrent]
    return {
        "seq_ttft_p50": statistics.median(seq_ttft),
        "seq_ttft_p95": _pct(seq_ttft, 0.95),
        "seq_tps": sum(s.tokens for s in result.sequential) / result.sequential_wall_s,
        "con_ttft_p50": statistics.median(con_ttft),
        "con_ttft_p95": _pct(con_ttft, 0.95),
        "con_tps": sum(s.tokens for s in result.concurrent) / result.concurrent_wall_s,
    }


def _tiny_model(directory: Path) -> Path:
    subprocess.run(
        [str(MODELS_BIN / "cienty"), "llm", "tiny-model", str(directory)],
        check=True,
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return directory


def run(quick: bool = False) -> str:
    rounds, requests = (1, 8) if quick else (2, 24)
    results = {"ray": Result(), "bare": Result()}
    with tempfile.TemporaryDirectory(prefix="llm-serving-bench-") as tmp:
        model_dir = _tiny_model(Path(tmp) / "tiny-llama")
        for _ in range(rounds):
            for kind in ("ray", "bare"):
                with _server(kind, model_dir, Path(tmp)) as url:
                    _merge(results[kind], asyncio.run(_measure(url, requests)))
    return _report(quick, rounds, requests, {k: _figures(v) for k, v in results.items()})


def _report(quick: bool, rounds: int, requests: int, figures: dict[str, dict[str, float]]) -> str:
    ray, bare = figures["ray"], figures["bare"]
    rows = [
        ("TTFT p50, sequential (ms)", "seq_ttft_p50"),
        ("TTFT p95, sequential (ms)", "seq_ttft_p95"),
        ("output tokens/s, sequential", "seq_tps"),
        (f"TTFT p50, {CONCURRENCY} streams (ms)", "con_ttft_p50"),
        (f"TTFT p95, {CONCURRENCY} streams (ms)", "con_ttft_p95"),
        (f"output tokens/s, {CONCURRENCY} streams", "con_tps"),
    ]
    table = ["| metric | Ray Serve LLM | bare vLLM | Ray / bare |", "|---|---:|---:|---:|"]
    table += [
        f"| {label} | {ray[key]:.1f} | {bare[key]:.1f} | {ray[key] / bare[key]:.2f} |"
        for label, key in rows
    ]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    return "\n".join(
        [
            "## LLM serving: Ray Serve vs bare vLLM",
            "",
            "Method: the tiny random Llama of the test suite (`cienty llm tiny-model`: 2 layers, "
            "hidden 128) on vllm-cpu, served by `cienty llm serve --profile cpu --app llm` "
            "(Ray Serve proxy, OpenAI ingress, LLMServer replica) and by "
            "`python -m vllm.entrypoints.openai.api_server` with the cpu profile's engine "
            "arguments. One server at a time (2 cores cannot host both fairly), alternating "
            f"Ray and bare, {rounds} round(s) of each; every start is warmed up with "
            f"{len(PROMPTS)} requests. Each request streams a chat completion of exactly "
            f"{MAX_TOKENS} tokens (`ignore_eos`). Per round: {requests} sequential requests, "
            f"then {CONCURRENCY} concurrent streams of {requests // CONCURRENCY} requests each. "
            "TTFT is the time to the first streamed chunk with choices; tokens/s is tokens "
            "over wall time." + (" Quick mode: fewer requests, one round." if quick else ""),
            "",
            f"Machine: {machine}.",
            "",
            *table,
            "",
            "With a 2-layer model the engine's own step costs almost nothing, so these ratios "
            "show the per-request and per-chunk cost of Ray Serve's extra hops (proxy, ingress, "
            "replica, 50 ms stream batching); on a GPU serving an 8B model, whose steps take "
            "milliseconds, the same absolute overhead is a much smaller fraction.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    return part_main(lambda quick: run(quick=quick), __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
