"""When and how a replica proves it can still generate: the decision logic, free of Ray and vLLM.

vLLM's own health check only asks whether the engine process is alive; an engine can be alive
and still produce nothing (vllm#39863). A replica that produced output recently has shown that
it works, so the probe runs only after `idle_s` without any output: it adds no load while the
replica is busy, and a stuck engine (requests in flight, nothing coming out) is caught within
`idle_s` plus one health-check period.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

DEFAULT_IDLE_S = 30.0
DEFAULT_TIMEOUT_S = 20.0


class ProbeFailed(RuntimeError):
    """The replica could not produce output within the timeout: it must be restarted."""


@dataclass
class GenerationProbe:
    idle_s: float = DEFAULT_IDLE_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    clock: Callable[[], float] = time.monotonic
    # None until the first output, so the first health check after start-up always probes.
    last_output_at: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.idle_s < 0 or self.timeout_s <= 0:
            raise ValueError("idle_s must be >= 0 and timeout_s > 0")

    def record_output(self) -> None:
        self.last_output_at = self.clock()

    def due(self) -> bool:
        return self.last_output_at is None or self.clock() - self.last_output_at >= self.idle_s

    async def check(self, produce_output: Callable[[], Awaitable[None]]) -> bool:
        """Run `produce_output` if a probe is due; return whether it ran.

        Raises ProbeFailed when it raises or does not finish within `timeout_s`.
        """
        if not self.due():
            return False
        try:
            await asyncio.wait_for(produce_output(), timeout=self.timeout_s)
        except TimeoutError as exc:
            raise ProbeFailed(f"no output within {self.timeout_s:g} s") from exc
        except Exception as exc:
            raise ProbeFailed(f"{type(exc).__name__}: {exc}") from exc
        self.record_output()
        return True
