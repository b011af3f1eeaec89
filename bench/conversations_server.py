"""The conversations server that `bench.conversations` runs: `python -m bench.conversations_server`.

The service exactly as `cienty conversations serve` builds it from its `CIENTY_*` settings
(PostgreSQL, Redis, the real gRPC commerce client, the outbox relay), except for two things:
the model is `bench.conversations_model.ZeroLatencyModel`, in this process, and there is no
knowledge base. Its metrics endpoint (`CIENTY_METRICS_PORT`) also counts the calls into
commerce and the model and the time the service waited for them, so the benchmark can tell
how much of a turn is the agent's own.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from typing import Any

from prometheus_client import Counter

from bench.conversations_model import ZeroLatencyModel
from cienty_conversations.ports import Commerce
from cienty_conversations.server import conversations_app
from cienty_conversations.settings import ConversationsSettings
from cienty_kit.logging import configure_logging
from cienty_kit.metrics import start_metrics_server
from cienty_llm.types import ChatRequest, Completion

COMMERCE_CALLS = Counter("cienty_bench_commerce_calls", "Calls into commerce.")
COMMERCE_SECONDS = Counter("cienty_bench_commerce_seconds", "Time spent waiting on commerce.")
MODEL_CALLS = Counter("cienty_bench_model_calls", "Calls into the model.")
MODEL_SECONDS = Counter("cienty_bench_model_seconds", "Time spent in the model.")


class TimedCommerce:
    """The service's own commerce client, each call timed (two clock reads)."""

    def __init__(self, inner: Commerce) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                COMMERCE_SECONDS.inc(time.perf_counter() - started)
                COMMERCE_CALLS.inc()

        return timed


class TimedModel:
    def __init__(self, inner: ZeroLatencyModel) -> None:
        self._inner = inner

    async def complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        try:
            return await self._inner.complete(request)
        finally:
            MODEL_SECONDS.inc(time.perf_counter() - started)
            MODEL_CALLS.inc()


async def serve(settings: ConversationsSettings) -> None:
    model = TimedModel(ZeroLatencyModel(call_prefix=f"p{os.getpid()}"))
    async with conversations_app(settings, model=model, use_knowledge_settings=False) as app:
        # The GrpcCommerce that conversations_app built from CIENTY_COMMERCE_ADDR, timed.
        timed: Any = TimedCommerce(app.service.commerce)
        app.service.commerce = timed
        app.service.agent.toolbox.commerce = timed
        await app.server.serve_until_signalled()


def main() -> None:
    settings = ConversationsSettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_port, host="127.0.0.1")
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
