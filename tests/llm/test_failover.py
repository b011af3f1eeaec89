"""Routing: the self-hosted model first, Claude when it is down, erroring, slow or overloaded."""

from __future__ import annotations

import asyncio
import time

import pytest

from cienty_llm.breaker import BreakerState
from cienty_llm.errors import FailureReason, LLMRequestError, LLMUnavailable
from cienty_llm.types import ChatRequest, Message
from tests.fakes import (
    Delay,
    DropMidStream,
    ErrorMidStream,
    FakeAnthropicServer,
    FakeOpenAIServer,
    Reply,
    SlowFirstToken,
    Usage,
)
from tests.llm.conftest import FALLBACK_MODEL, PRIMARY_MODEL, MakeClient, sample

REQUEST = ChatRequest([Message.system("Seja breve."), Message.user("qual o pedido mínimo?")])


async def test_primary_answers_and_usage_is_counted(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(Reply("O pedido mínimo é R$ 300,00.", usage=Usage(40, 12)))
    tokens_before = sample("cienty_llm_tokens_total", provider="self_hosted", direction="output")
    cost_before = sample("cienty_llm_cost_usd_total", provider="self_hosted")
    client = make_client(primary_prices={"output_usd_per_million": 2.0})
    completion = await client.complete(REQUEST)
    assert completion.text == "O pedido mínimo é R$ 300,00."
    assert completion.provider == "self_hosted"
    assert completion.model == PRIMARY_MODEL
    assert completion.finish_reason == "stop"
    assert completion.usage.input_tokens == 40
    assert completion.usage.output_tokens == 12
    assert not completion.used_fallback
    assert fallback.scripted_requests == []
    after = sample("cienty_llm_tokens_total", provider="self_hosted", direction="output")
    assert after - tokens_before == 12
    cost = sample("cienty_llm_cost_usd_total", provider="self_hosted") - cost_before
    assert cost == pytest.approx(12 * 2.0 / 1_000_000)
    sent = primary.scripted_requests[0].body
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_primary_down_fails_over_to_claude(
    make_client: MakeClient, down_url: str, fallback: FakeAnthropicServer
) -> None:
    fallback.enqueue(Reply("Pedido mínimo: R$ 300,00."))
    failovers_before = sample(
        "cienty_llm_fallbacks_total",
        from_provider="self_hosted",
        to_provider="anthropic",
        reason="connect_error",
    )
    completion = await make_client(primary_url=down_url).complete(REQUEST)
    assert completion.provider == "anthropic"
    assert completion.model == FALLBACK_MODEL
    assert completion.text == "Pedido mínimo: R$ 300,00."
    assert completion.failed_providers == ("self_hosted",)
    sent = fallback.scripted_requests[0].body
    assert sent["system"] == "Seja breve."
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "qual o pedido mínimo?"}]}
    ]
    failovers = sample(
        "cienty_llm_fallbacks_total",
        from_provider="self_hosted",
        to_provider="anthropic",
        reason="connect_error",
    )
    assert failovers - failovers_before == 1


async def test_server_error_is_retried_once_then_fails_over(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(primary.internal_error(), primary.unavailable())
    fallback.enqueue(Reply("resposta do Claude"))
    completion = await make_client(max_retries=1).complete(REQUEST)
    assert completion.provider == "anthropic"
    assert len(primary.scripted_requests) == 2


async def test_a_retry_can_succeed_on_the_primary(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(primary.unavailable(), Reply("segunda tentativa"))
    completion = await make_client(max_retries=1).complete(REQUEST)
    assert completion.provider == "self_hosted"
    assert completion.text == "segunda tentativa"
    assert fallback.scripted_requests == []


@pytest.mark.parametrize("slow", ["no_headers", "headers_then_silence"])
async def test_slow_first_token_fails_over_within_the_budget(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer, slow: str
) -> None:
    step = Delay(5.0) if slow == "no_headers" else SlowFirstToken(5.0)
    primary.enqueue(step)
    fallback.enqueue(Reply("rápido"))
    started = time.monotonic()
    completion = await make_client(first_token_timeout_seconds=0.5).complete(REQUEST)
    elapsed = time.monotonic() - started
    assert completion.provider == "anthropic"
    assert completion.text == "rápido"
    assert elapsed < 3.0, elapsed  # the 5 s stall was cut at 0.5 s, not waited out
    assert len(primary.scripted_requests) == 1  # a timeout is not retried on the same provider


async def test_total_timeout_bounds_a_slow_stream(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    # First token in time, but the answer as a whole would take too long.
    primary.enqueue(SlowFirstToken(0.1, then=Reply("a " * 5)), Delay(5.0))
    client = make_client(first_token_timeout_seconds=1.0, total_timeout_seconds=1.0)
    fallback.enqueue(Reply("ok"))
    completion = await client.complete(REQUEST)
    assert completion.provider == "self_hosted"  # finished inside the budget
    completion = await client.complete(REQUEST)
    assert completion.provider == "anthropic"


async def test_dropped_connection_before_completion_fails_over_in_complete(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(DropMidStream(after_chunks=2, then=Reply("uma resposta longa " * 4)))
    fallback.enqueue(Reply("resposta inteira"))
    completion = await make_client(max_retries=0).complete(REQUEST)
    # Nothing had reached the caller yet, so the whole answer comes from Claude.
    assert completion.provider == "anthropic"
    assert completion.text == "resposta inteira"


async def test_in_band_vllm_error_fails_over(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(ErrorMidStream(after_events=1, error_type="InternalServerError"))
    fallback.enqueue(Reply("ok"))
    completion = await make_client(max_retries=0).complete(REQUEST)
    assert completion.provider == "anthropic"


async def test_breaker_opens_skips_the_primary_and_recovers_through_a_probe(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    client = make_client(max_retries=0, breaker_failure_threshold=2, breaker_reset_seconds=0.5)
    primary.enqueue(primary.internal_error(), primary.internal_error())
    for _ in range(2):
        assert (await client.complete(REQUEST)).provider == "anthropic"
    assert client.breaker_state("self_hosted") is BreakerState.OPEN
    assert sample("cienty_llm_circuit_breaker_state", provider="self_hosted") == 2
    # Open: the primary is not even called.
    completion = await client.complete(REQUEST)
    assert completion.provider == "anthropic"
    assert len(primary.scripted_requests) == 2
    # After the reset period one probe goes to the primary; it answers, the breaker closes.
    await asyncio.sleep(0.6)
    primary.enqueue(Reply("voltei"))
    completion = await client.complete(REQUEST)
    assert completion.provider == "self_hosted"
    assert completion.text == "voltei"
    assert client.breaker_state("self_hosted") is BreakerState.CLOSED
    assert sample("cienty_llm_circuit_breaker_state", provider="self_hosted") == 0


async def test_failed_probe_reopens_the_breaker(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    client = make_client(max_retries=0, breaker_failure_threshold=1, breaker_reset_seconds=0.3)
    primary.enqueue(primary.internal_error())
    await client.complete(REQUEST)
    await asyncio.sleep(0.4)
    primary.enqueue(primary.internal_error())
    assert (await client.complete(REQUEST)).provider == "anthropic"  # the probe failed
    assert client.breaker_state("self_hosted") is BreakerState.OPEN
    assert len(primary.scripted_requests) == 2


async def test_every_provider_down_raises_one_typed_error(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(primary.internal_error(), primary.internal_error())
    fallback.enqueue(fallback.overloaded(), fallback.overloaded())
    before = sample("cienty_llm_unavailable_total")
    with pytest.raises(LLMUnavailable) as caught:
        await make_client(max_retries=1).complete(REQUEST)
    reasons = [(f.provider, f.reason) for f in caught.value.failures]
    assert reasons == [
        ("self_hosted", FailureReason.SERVER_ERROR),
        ("anthropic", FailureReason.OVERLOADED),
    ]
    assert sample("cienty_llm_unavailable_total") - before == 1


async def test_no_fallback_configured_means_the_primary_failure_is_final(
    make_client: MakeClient, down_url: str, fallback: FakeAnthropicServer
) -> None:
    client = make_client(primary_url=down_url, fallback_model=None)
    with pytest.raises(LLMUnavailable) as caught:
        await client.complete(REQUEST)
    assert [f.provider for f in caught.value.failures] == ["self_hosted"]
    assert fallback.scripted_requests == []


async def test_a_malformed_request_is_not_failed_over(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    client = make_client(primary_model="no-such-model")  # vLLM answers 404
    with pytest.raises(LLMRequestError) as caught:
        await client.complete(REQUEST)
    assert caught.value.failure.status == 404
    assert fallback.scripted_requests == []
    assert client.breaker_state("self_hosted") is BreakerState.CLOSED
