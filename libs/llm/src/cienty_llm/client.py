"""`LLMClient`: one request, tried on each provider in order until one answers.

Routing policy:
- Providers are tried in order (self-hosted first, then Claude). A provider whose circuit
  breaker is open is skipped without a call.
- A failure that is worth retrying (connection refused, 5xx, 429, overload) is retried on the
  same provider up to `max_retries` times after a jittered backoff, or after the `retry-after`
  the provider asked for when that is short; otherwise the request fails over at once.
  Timeouts fail over without a retry: the caller is already waiting.
- A request the provider rejects as malformed (400, 404, 422) raises `LLMRequestError`: another
  provider would not make it right.
- When every provider fails, `LLMUnavailable` carries each failure.

Streams: until the first text reaches the caller, failures fail over exactly as above. After
that, a failure raises `StreamInterrupted` and nothing else is streamed: the client never
splices another provider's answer onto a partial one. `complete()` consumes the stream itself
and so can fail over at any point.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from cienty_llm import metrics
from cienty_llm.breaker import BreakerState, CircuitBreaker
from cienty_llm.errors import (
    FailureReason,
    InvalidModelOutput,
    LLMRequestError,
    LLMUnavailable,
    ProviderFailure,
    StreamInterrupted,
)
from cienty_llm.providers.base import Chunk, Provider, ProviderAnswer
from cienty_llm.schemas import validation_errors
from cienty_llm.settings import LLMSettings
from cienty_llm.tool_calls import resolve
from cienty_llm.types import (
    ChatRequest,
    Completion,
    Finished,
    ForcedTool,
    InvalidToolCall,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
)

log = structlog.get_logger(__name__)


@dataclass
class _Route:
    provider: Provider
    breaker: CircuitBreaker


class LLMClient:
    def __init__(
        self,
        providers: Sequence[Provider],
        settings: LLMSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not providers:
            raise ValueError("the LLM client needs at least one provider")
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._routes = [
            _Route(provider, self._breaker(provider.name, clock)) for provider in providers
        ]

    def _breaker(self, name: str, clock: Callable[[], float]) -> CircuitBreaker:
        gauge = metrics.BREAKER_STATE.labels(name)
        gauge.set(BreakerState.CLOSED)
        return CircuitBreaker(
            self._settings.breaker_failure_threshold,
            self._settings.breaker_reset_seconds,
            clock=clock,
            on_change=lambda state: gauge.set(state),
        )

    @property
    def provider_names(self) -> tuple[str, ...]:
        return tuple(route.provider.name for route in self._routes)

    def breaker_state(self, provider: str) -> BreakerState:
        return next(r.breaker.state for r in self._routes if r.provider.name == provider)

    async def aclose(self) -> None:
        for route in self._routes:
            await route.provider.aclose()

    async def complete(self, request: ChatRequest) -> Completion:
        return await self._complete(request, reask=self._settings.reask_invalid_tool_calls)

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Text deltas as they come, then `Finished` with the whole answer."""
        return self._run(request, deliver=True, reask=self._settings.reask_invalid_tool_calls)

    async def _complete(self, request: ChatRequest, *, reask: bool) -> Completion:
        async for event in self._run(request, deliver=False, reask=reask):
            if isinstance(event, Finished):
                return event.completion
        raise AssertionError("a stream always ends with Finished or an error")

    async def _run(
        self, request: ChatRequest, *, deliver: bool, reask: bool
    ) -> AsyncIterator[StreamEvent]:
        failures: list[ProviderFailure] = []
        for position, route in enumerate(self._routes):
            if position:
                self._record_failover(failures[-1], route)
            name = route.provider.name
            if not route.breaker.allow():
                metrics.REQUESTS.labels(name, FailureReason.BREAKER_OPEN.value).inc()
                failures.append(
                    ProviderFailure(name, FailureReason.BREAKER_OPEN, "circuit breaker open")
                )
                continue
            retries = 0
            while True:
                delivered: list[str] = []
                started = self._clock()
                try:
                    answer: ProviderAnswer | None = None
                    async for item in self._attempt(route.provider, request, started):
                        if isinstance(item, ProviderAnswer):
                            answer = item
                        elif deliver and item.text:
                            delivered.append(item.text)
                            yield TextDelta(item.text)
                    assert answer is not None
                except ProviderFailure as failure:
                    metrics.REQUESTS.labels(name, failure.reason.value).inc()
                    if not failure.fails_over:
                        route.breaker.release()
                        raise LLMRequestError(failure) from failure
                    self._trip(route.breaker, failure)
                    if delivered:
                        raise StreamInterrupted("".join(delivered), failure) from failure
                    delay = self._retry_delay(route.breaker, failure, retries)
                    if delay is None:
                        failures.append(failure)
                        break
                    log.info("llm.retry", provider=name, reason=failure.reason, delay_s=delay)
                    retries += 1
                    await self._sleep(delay)
                    continue
                except BaseException:
                    route.breaker.release()  # cancelled: no verdict on the provider
                    raise
                route.breaker.record_success()
                self._record_success(route.provider, answer, started)
                completion = self._completion(route.provider, request, answer, failures)
                if reask and completion.invalid_tool_calls:
                    completion = await self._reask(request, completion)
                yield Finished(completion)
                return
        metrics.UNAVAILABLE.inc()
        log.error("llm.unavailable", failures=[str(failure) for failure in failures])
        raise LLMUnavailable(failures)

    async def _attempt(
        self, provider: Provider, request: ChatRequest, started: float
    ) -> AsyncGenerator[Chunk | ProviderAnswer, None]:
        """The provider's stream under the first-token and total timeouts.

        The timeout scopes wrap each `anext` only: a scope must never stay open across a
        `yield`, or it would cancel the consumer's code instead of the provider call.
        """
        settings = self._settings
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + settings.total_timeout_seconds
        deadline = min(total_deadline, loop.time() + settings.first_token_timeout_seconds)
        first_token = False
        max_tokens = request.max_tokens or settings.max_output_tokens
        items = provider.stream(request, max_tokens)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await anext(items)
                except StopAsyncIteration:
                    return
                except TimeoutError as error:
                    reason, limit = (
                        (FailureReason.TIMEOUT, settings.total_timeout_seconds)
                        if first_token
                        else (
                            FailureReason.FIRST_TOKEN_TIMEOUT,
                            settings.first_token_timeout_seconds,
                        )
                    )
                    raise ProviderFailure(provider.name, reason, f"over {limit} s") from error
                if not first_token:
                    first_token = True
                    deadline = total_deadline
                    ttft = metrics.TIME_TO_FIRST_TOKEN.labels(provider.name)
                    ttft.observe(self._clock() - started)
                yield item
        finally:
            await items.aclose()

    def _trip(self, breaker: CircuitBreaker, failure: ProviderFailure) -> None:
        open_for: float | None = None
        if failure.reason is FailureReason.SPEND_LIMIT:
            open_for = self._settings.spend_limit_cooldown_seconds
        elif failure.retry_after is not None and failure.retry_after > self._max_wait:
            open_for = failure.retry_after
        breaker.record_failure(open_for)

    @property
    def _max_wait(self) -> float:
        return self._settings.max_retry_after_seconds

    def _retry_delay(
        self, breaker: CircuitBreaker, failure: ProviderFailure, retries: int
    ) -> float | None:
        """How long to wait before retrying on the same provider; None: fail over now."""
        if not failure.retryable or retries >= self._settings.max_retries:
            return None
        if breaker.state is not BreakerState.CLOSED:
            return None
        if failure.retry_after is not None:
            return failure.retry_after if failure.retry_after <= self._max_wait else None
        # Full jitter: a crowd of clients retrying after one outage does not arrive in step.
        return random.uniform(0, self._settings.retry_backoff_seconds * 2**retries)

    def _record_failover(self, failure: ProviderFailure, to: _Route) -> None:
        metrics.FALLBACKS.labels(failure.provider, to.provider.name, failure.reason.value).inc()
        log.warning(
            "llm.failover",
            from_provider=failure.provider,
            to_provider=to.provider.name,
            reason=failure.reason,
            detail=failure.detail,
        )

    def _record_success(self, provider: Provider, answer: ProviderAnswer, started: float) -> None:
        name = provider.name
        metrics.REQUESTS.labels(name, "ok").inc()
        metrics.LATENCY.labels(name).observe(self._clock() - started)
        usage = answer.usage
        metrics.TOKENS.labels(name, "input").inc(usage.input_tokens)
        metrics.TOKENS.labels(name, "output").inc(usage.output_tokens)
        metrics.COST.labels(name).inc(provider.prices.cost(usage.input_tokens, usage.output_tokens))

    def _completion(
        self,
        provider: Provider,
        request: ChatRequest,
        answer: ProviderAnswer,
        failures: Sequence[ProviderFailure],
    ) -> Completion:
        valid: list[ToolCall] = []
        invalid: list[InvalidToolCall] = []
        for raw in answer.tool_calls:
            resolution = resolve(raw, request.tools)
            if isinstance(resolution.call, ToolCall):
                valid.append(resolution.call)
                if resolution.repaired:
                    metrics.TOOL_CALL_FIXES.labels(provider.name, "repaired").inc()
            else:
                invalid.append(resolution.call)
                log.warning(
                    "llm.invalid_tool_call",
                    provider=provider.name,
                    tool=raw.name,
                    problem=resolution.call.problem,
                )
        if request.response_schema is not None:
            _check_structured(answer.text, request)
        return Completion(
            message=Message.assistant(answer.text, valid),
            finish_reason=answer.finish_reason,
            usage=answer.usage,
            provider=provider.name,
            model=answer.model,
            invalid_tool_calls=tuple(invalid),
            failed_providers=tuple(failure.provider for failure in failures),
        )

    async def _reask(self, request: ChatRequest, completion: Completion) -> Completion:
        """Ask once more for the first invalid call, forcing that tool (structured outputs)."""
        bad = completion.invalid_tool_calls[0]
        known = any(tool.name == bad.name for tool in request.tools)
        instruction = (
            f"Your call to the tool `{bad.name}` was rejected: {bad.problem}. "
            "Call it again with arguments that match its JSON schema."
            if known
            else f"There is no tool named `{bad.name}`. Use one of the tools provided."
        )
        retry = replace(
            request,
            messages=[*request.messages, Message.system(instruction)],
            tool_choice=ForcedTool(bad.name) if known else "required",
        )
        metrics.TOOL_CALL_FIXES.labels(completion.provider, "reasked").inc()
        second = await self._complete(retry, reask=False)
        if second.invalid_tool_calls:
            fixes = metrics.TOOL_CALL_FIXES.labels(second.provider, "invalid")
            fixes.inc(len(second.invalid_tool_calls))
        return second


def _check_structured(text: str, request: ChatRequest) -> None:
    assert request.response_schema is not None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidModelOutput(f"the answer is not JSON: {error}") from error
    errors = validation_errors(document, request.response_schema)
    if errors:
        raise InvalidModelOutput("the answer does not match the schema: " + "; ".join(errors))
