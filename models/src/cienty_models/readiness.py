"""`ProbingLLMServer`: Ray Serve LLM's replica, whose health check also proves real output.

Wired into every profile with `server_cls: cienty_models.readiness:ProbingLLMServer`, so the GPU
image must have cienty-models installed (docs/llm-serving.md). Serve calls `check_health` every
`health_check_period_s`; when it raises (or exceeds `health_check_timeout_s`) the replica is
marked unhealthy, taken out of routing and restarted. Timing lives in cienty_models.probe.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from ray.serve.llm import LLMServer

from cienty_models.probe import DEFAULT_IDLE_S, DEFAULT_TIMEOUT_S, GenerationProbe

# Keys read from LLMConfig.experimental_configs (a free-form mapping in ray.serve.llm 2.60).
IDLE_KEY = "generation_probe_idle_s"
TIMEOUT_KEY = "generation_probe_timeout_s"
# Any id inside every vocabulary: the probe feeds token ids, skipping the tokenizer and template.
_PROBE_PROMPT = [0, 1, 2]

# Serve forwards the `ray.serve` logger to the replica's log file and the driver.
logger = logging.getLogger("ray.serve")


def probe_from_config(experimental_configs: dict[str, Any]) -> GenerationProbe:
    return GenerationProbe(
        idle_s=float(experimental_configs.get(IDLE_KEY, DEFAULT_IDLE_S)),
        timeout_s=float(experimental_configs.get(TIMEOUT_KEY, DEFAULT_TIMEOUT_S)),
    )


class ProbingLLMServer(LLMServer):  # type: ignore[misc]  # ray is untyped in the main venv
    # Serve awaits async constructors; LLMServer's is one.
    async def __init__(self, llm_config: Any, **kwargs: Any) -> None:  # type: ignore[misc]
        self._probe = probe_from_config(dict(llm_config.experimental_configs))
        self._probe_passed_once = False
        await super().__init__(llm_config, **kwargs)

    async def check_health(self) -> None:
        await super().check_health()  # raises when the engine process is dead
        if self.engine is None:  # still starting: Serve waits for the constructor anyway
            return
        if await self._probe.check(self._produce_output):
            if not self._probe_passed_once:
                self._probe_passed_once = True
                logger.info("cienty generation probe passed: the engine produces output")

    async def chat(self, request: Any, raw_request_info: Any = None) -> AsyncGenerator[Any, None]:
        return self._recording(await super().chat(request, raw_request_info))

    async def completions(
        self, request: Any, raw_request_info: Any = None
    ) -> AsyncGenerator[Any, None]:
        return self._recording(await super().completions(request, raw_request_info))

    async def embeddings(
        self, request: Any, raw_request_info: Any = None
    ) -> AsyncGenerator[Any, None]:
        return self._recording(await super().embeddings(request, raw_request_info))

    async def _recording(self, stream: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
        async for item in stream:
            if type(item).__name__ != "ErrorResponse":
                self._probe.record_output()
            yield item

    async def _produce_output(self) -> None:
        """One token from the engine (or one embedding from a pooling model)."""
        from vllm import PoolingParams, SamplingParams
        from vllm.inputs import TokensPrompt

        client = self.engine._engine_client
        request_id = f"cienty-probe-{uuid.uuid4().hex}"
        prompt = TokensPrompt(prompt_token_ids=_PROBE_PROMPT)
        if "generate" in await client.get_supported_tasks():
            params = SamplingParams(max_tokens=1, temperature=0.0, ignore_eos=True)
            async for output in client.generate(prompt, params, request_id):
                if output.outputs and output.outputs[0].token_ids:
                    return
            raise RuntimeError("the engine finished the probe without producing a token")
        async for pooled in client.encode(prompt, PoolingParams(task="embed"), request_id):
            if pooled.finished:
                return
        raise RuntimeError("the engine finished the probe without an embedding")
