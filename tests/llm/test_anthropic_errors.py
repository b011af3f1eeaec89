"""Claude's own failure signals: 529 overloaded, 429 with retry-after, the spend limit."""

from __future__ import annotations

import time

import pytest

from cienty_llm.breaker import BreakerState
from cienty_llm.errors import FailureReason, LLMUnavailable
from cienty_llm.types import ChatRequest, Message
from tests.fakes import ErrorMidStream, FakeAnthropicServer, Reply
from tests.llm.conftest import MakeClient

REQUEST = ChatRequest([Message.user("oi")])


@pytest.fixture
def claude_only(make_client: MakeClient, down_url: str) -> MakeClient:
    def make(**overrides: object) -> object:
        return make_client(primary_url=down_url, **overrides)

    return make  # type: ignore[return-value]


async def test_overloaded_is_retried_with_backoff(
    claude_only: MakeClient, fallback: FakeAnthropicServer
) -> None:
    fallback.enqueue(fallback.overloaded(), Reply("consegui"))
    completion = await claude_only(max_retries=1).complete(REQUEST)
    assert completion.text == "consegui"
    assert len(fallback.scripted_requests) == 2


async def test_overloaded_inside_a_200_stream_is_recognised(
    claude_only: MakeClient, fallback: FakeAnthropicServer
) -> None:
    # The `error` event arrives after the stream began: the status line said 200.
    fallback.enqueue(ErrorMidStream(after_events=2), Reply("consegui"))
    completion = await claude_only(max_retries=1).complete(REQUEST)
    assert completion.text == "consegui"
    fallback.enqueue(ErrorMidStream(after_events=2))
    with pytest.raises(LLMUnavailable) as caught:
        await claude_only(max_retries=0).complete(REQUEST)
    assert caught.value.failures[-1].reason is FailureReason.OVERLOADED


async def test_short_retry_after_is_honoured(
    claude_only: MakeClient, fallback: FakeAnthropicServer
) -> None:
    fallback.enqueue(fallback.rate_limited(retry_after=0.4), Reply("depois da espera"))
    started = time.monotonic()
    completion = await claude_only(max_retries=1, max_retry_after_seconds=2).complete(REQUEST)
    assert completion.text == "depois da espera"
    assert time.monotonic() - started >= 0.4


async def test_long_retry_after_is_not_waited_and_keeps_the_breaker_open(
    claude_only: MakeClient, fallback: FakeAnthropicServer
) -> None:
    client = claude_only(max_retries=1, max_retry_after_seconds=2)
    fallback.enqueue(fallback.rate_limited(retry_after=60))
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        await client.complete(REQUEST)
    assert time.monotonic() - started < 2
    failure = caught.value.failures[-1]
    assert failure.reason is FailureReason.RATE_LIMITED
    assert failure.retry_after == 60
    assert len(fallback.scripted_requests) == 1
    assert client.breaker_state("anthropic") is BreakerState.OPEN


async def test_spend_limit_is_not_retried_and_parks_the_provider(
    claude_only: MakeClient, fallback: FakeAnthropicServer
) -> None:
    client = claude_only(max_retries=3, breaker_failure_threshold=5)
    fallback.enqueue(fallback.spend_limit())
    with pytest.raises(LLMUnavailable) as caught:
        await client.complete(REQUEST)
    assert caught.value.failures[-1].reason is FailureReason.SPEND_LIMIT
    assert len(fallback.scripted_requests) == 1
    assert client.breaker_state("anthropic") is BreakerState.OPEN
    # Parked: the next request does not reach Claude at all.
    with pytest.raises(LLMUnavailable) as caught:
        await client.complete(REQUEST)
    assert caught.value.failures[-1].reason is FailureReason.BREAKER_OPEN
    assert len(fallback.scripted_requests) == 1
