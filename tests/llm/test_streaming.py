"""Streams: failover until the first text reaches the caller, never after it."""

from __future__ import annotations

import pytest

from cienty_llm.client import LLMClient
from cienty_llm.errors import FailureReason, StreamInterrupted
from cienty_llm.types import ChatRequest, Completion, Finished, Message, StreamEvent, TextDelta
from tests.fakes import (
    DropMidStream,
    ErrorMidStream,
    FakeAnthropicServer,
    FakeOpenAIServer,
    Reply,
    SlowFirstToken,
)
from tests.llm.conftest import MakeClient

REQUEST = ChatRequest([Message.user("me conte sobre o prazo de entrega")])


async def _collect(client: LLMClient, texts: list[str]) -> Completion:
    completion: Completion | None = None
    async for event in client.stream(REQUEST):
        if isinstance(event, TextDelta):
            texts.append(event.text)
        else:
            completion = event.completion
    assert completion is not None
    return completion


async def test_text_arrives_in_pieces_then_the_whole_answer(
    make_client: MakeClient, primary: FakeOpenAIServer
) -> None:
    primary.enqueue(Reply("Entregamos em até dois dias úteis."))
    texts: list[str] = []
    completion = await _collect(make_client(), texts)
    assert len(texts) > 1
    assert "".join(texts) == "Entregamos em até dois dias úteis."
    assert completion.text == "Entregamos em até dois dias úteis."
    assert completion.provider == "self_hosted"


async def test_failure_before_the_first_token_streams_from_claude(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(SlowFirstToken(5.0))
    fallback.enqueue(Reply("Claude responde aqui."))
    texts: list[str] = []
    completion = await _collect(make_client(first_token_timeout_seconds=0.5), texts)
    assert "".join(texts) == "Claude responde aqui."
    assert completion.provider == "anthropic"
    assert completion.failed_providers == ("self_hosted",)


async def test_primary_dropping_after_tokens_interrupts_and_is_not_spliced(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(DropMidStream(after_chunks=3, then=Reply("um dois três quatro cinco seis")))
    client = make_client(max_retries=3)
    texts: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        await _collect(client, texts)
    assert caught.value.delivered_text == "".join(texts)
    assert caught.value.delivered_text  # something had been shown
    assert caught.value.cause.reason is FailureReason.STREAM_BROKEN
    assert fallback.scripted_requests == []  # no silent continuation elsewhere
    assert len(primary.scripted_requests) == 1  # and no retry behind the caller's back


async def test_claude_overloaded_mid_stream_interrupts(
    make_client: MakeClient, down_url: str, fallback: FakeAnthropicServer
) -> None:
    fallback.enqueue(ErrorMidStream(after_events=4, then=Reply("uma resposta bem longa aqui")))
    texts: list[str] = []
    with pytest.raises(StreamInterrupted) as caught:
        await _collect(make_client(primary_url=down_url), texts)
    assert caught.value.cause.reason is FailureReason.OVERLOADED
    assert caught.value.delivered_text == "".join(texts) != ""


async def test_a_caller_that_stops_reading_leaves_the_client_usable(
    make_client: MakeClient, primary: FakeOpenAIServer
) -> None:
    client = make_client()
    primary.enqueue(Reply("um dois três quatro"), Reply("de novo"))
    events: list[StreamEvent] = []
    stream = client.stream(REQUEST)
    async for event in stream:
        events.append(event)
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert isinstance(events[0], TextDelta)
    completion = await client.complete(REQUEST)
    assert completion.text == "de novo"
    assert not isinstance(events[-1], Finished)
