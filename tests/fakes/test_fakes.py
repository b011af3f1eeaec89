"""The fakes, driven by the official SDKs: what the SDKs parse and raise is what the real
services would make them parse and raise."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import MessageParam, ToolParam
from anthropic.types.shared.enforced_spend_limit_reached_error import (
    EnforcedSpendLimitReachedError,
)
from openai.types.chat import (
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)

from tests.fakes import (
    Delay,
    DropMidStream,
    ErrorMidStream,
    Fail,
    FakeAnthropicServer,
    FakeOpenAIServer,
    Reply,
    SlowFirstToken,
    ToolCall,
    Usage,
)

MODEL = "llama-3.1-8b-instruct"
CLAUDE = "claude-sonnet-4-6"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
CLAUDE_USER: list[MessageParam] = [{"role": "user", "content": "hello"}]
WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CLAUDE_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Weather now",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
# A wait the SDK must give up on, and the timeout it gives up after: far apart, so a loaded
# machine cannot flip the outcome.
SLOW_S = 2.0
TIMEOUT_S = 0.3


@pytest.fixture(scope="module")
def vllm_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(model=MODEL) as server:
        yield server


@pytest.fixture(scope="module")
def claude_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def vllm(vllm_server: FakeOpenAIServer) -> FakeOpenAIServer:
    vllm_server.reset()
    return vllm_server


@pytest.fixture
def claude(claude_server: FakeAnthropicServer) -> FakeAnthropicServer:
    claude_server.reset()
    return claude_server


@pytest.fixture
async def oai(vllm: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=vllm.url + "/v1", api_key="x", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def ant(claude: FakeAnthropicServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=claude.url, api_key="k", max_retries=0)
    yield client
    await client.close()


def _is_refused(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _text(block: object) -> str:
    assert isinstance(block, anthropic.types.TextBlock)
    return block.text


def _function(call: object) -> tuple[str, str]:
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    return call.function.name, call.function.arguments


async def _drain(stream: AsyncIterator[object], sink: list[object]) -> None:
    async for item in stream:
        sink.append(item)


# -- the server harness ---------------------------------------------------------------------


def test_a_stopped_server_refuses_connections() -> None:
    server = FakeOpenAIServer()
    started = time.monotonic()
    server.start()
    assert time.monotonic() - started < 0.5
    assert not _is_refused(server.url)
    server.stop()
    assert _is_refused(server.url)
    url = server.url
    with server:  # and comes back on the same address
        assert server.url == url
        assert not _is_refused(url)


async def test_steps_are_consumed_in_order_then_the_default(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(Reply("first"), Reply("second"))
    vllm.default = Reply("fallback")
    texts = [
        (await oai.chat.completions.create(model=MODEL, messages=USER)).choices[0].message.content
        for _ in range(3)
    ]
    assert texts == ["first", "second", "fallback"]
    assert vllm.pending == 0


# -- OpenAI / vLLM ----------------------------------------------------------------------------


async def test_openai_plain_reply_and_recorded_request(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(Reply("Olá, tudo bem?", usage=Usage(input_tokens=12, output_tokens=4)))
    completion = await oai.chat.completions.create(model=MODEL, messages=USER, max_tokens=50)

    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", "Olá, tudo bem?")
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 4)
    assert completion.usage.total_tokens == 16

    [request] = vllm.scripted_requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer x"
    assert request.body == {"model": MODEL, "messages": USER, "max_tokens": 50}


async def test_openai_lists_the_served_model(oai: openai.AsyncOpenAI) -> None:
    models = await oai.models.list()
    assert [m.id for m in models.data] == [MODEL]


async def test_openai_stream_with_usage_chunk(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(Reply("one two three four", usage=Usage(7, 5)))
    stream = await oai.chat.completions.create(
        model=MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["one ", "two ", "three ", "four"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (7, 5)
    assert all(c.usage is None for c in body)


async def test_openai_stream_without_usage_ends_with_done(vllm: FakeOpenAIServer) -> None:
    vllm.enqueue(Reply("hi there"))
    body = {"model": MODEL, "messages": USER, "stream": True}
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", vllm.url + "/v1/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(line[6:]) for line in lines[:-1])


async def test_openai_streamed_tool_call_arrives_in_pieces(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    raw = '{"city": "São Paulo", "days": "[1, 2]"'  # truncated JSON, as a model may emit
    vllm.enqueue(Reply("", tool_calls=[ToolCall("get_weather", raw, id="call-1")]))
    stream = await oai.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=[WEATHER_TOOL],
        stream=True,
    )
    deltas = [c.choices[0] async for c in stream if c.choices]

    calls = [d.delta.tool_calls[0] for d in deltas if d.delta.tool_calls]
    assert len(calls) > 2
    assert (calls[0].index, calls[0].id, calls[0].type) == (0, "call-1", "function")
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert "".join(c.function.arguments or "" for c in calls if c.function) == raw
    assert deltas[-1].finish_reason == "tool_calls"


async def test_openai_stream_helper_accumulates_text_and_tool_call(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(Reply("Checking.", tool_calls=[ToolCall("get_weather", {"city": "Recife"})]))
    async with oai.chat.completions.stream(
        model=MODEL,
        messages=USER,
        tools=[WEATHER_TOOL],
    ) as stream:
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Checking."
    assert message.tool_calls is not None
    name, arguments = _function(message.tool_calls[0])
    assert (name, json.loads(arguments)) == ("get_weather", {"city": "Recife"})


async def test_openai_non_streaming_tool_call_keeps_the_raw_arguments(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(Reply("", tool_calls=[ToolCall("get_weather", '"[\\"Recife\\"]"')]))
    completion = await oai.chat.completions.create(
        model=MODEL,
        messages=USER,
        tools=[WEATHER_TOOL],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("chatcmpl-tool-")
    assert _function(call) == ("get_weather", '"[\\"Recife\\"]"')


@pytest.mark.parametrize(
    ("fail", "error", "status"),
    [
        (FakeOpenAIServer.unavailable(), openai.InternalServerError, 503),
        (FakeOpenAIServer.internal_error(), openai.InternalServerError, 500),
        (FakeOpenAIServer.rate_limited(retry_after=3), openai.RateLimitError, 429),
        (Fail(408, "RequestTimeout", "Serve request timed out"), openai.APIStatusError, 408),
    ],
)
async def test_openai_failures_map_to_sdk_errors(
    vllm: FakeOpenAIServer,
    oai: openai.AsyncOpenAI,
    fail: Fail,
    error: type[openai.APIStatusError],
    status: int,
) -> None:
    vllm.enqueue(fail)
    with pytest.raises(error) as caught:
        await oai.chat.completions.create(model=MODEL, messages=USER)
    assert caught.value.status_code == status
    assert caught.value.body == {
        "message": fail.message,
        "type": fail.error_type,
        "param": None,
        "code": status,
    }
    assert caught.value.response.headers.get("retry-after") == fail.headers.get("retry-after")


async def test_openai_plain_text_error_from_a_proxy(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(Fail(503, "", "", raw_body="no healthy upstream"))
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(model=MODEL, messages=USER)
    assert caught.value.status_code == 503
    assert caught.value.response.text == "no healthy upstream"


async def test_openai_unknown_model_is_a_vllm_404(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await oai.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.body == {
        "message": "The model `gpt-4o` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }


ASSISTANT_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    ],
}


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"messages": []}, "non-empty"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"messages": [*USER, {"role": "tool", "content": "18C"}]}, "tool_call_id"),
        (
            {
                "messages": [
                    *USER,
                    ASSISTANT_CALL,
                    {"role": "tool", "tool_call_id": "c2", "content": "x"},
                ]
            },
            "'c2'",
        ),
        ({"tools": [{"name": "get_weather", "parameters": {}}]}, "tools[0]"),
        ({"stream_options": {"include_usage": True}}, "stream=True"),
        ({"tool_choice": "required"}, "tools"),
        (
            {
                "messages": [
                    *USER,
                    {
                        **ASSISTANT_CALL,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": {}},
                            }
                        ],
                    },
                ]
            },
            "JSON string",
        ),
    ],
)
async def test_openai_rejects_what_the_server_rejects(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI, changes: dict[str, Any], fragment: str
) -> None:
    body: dict[str, Any] = {"model": MODEL, "messages": USER, **changes}
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(**body)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "BadRequestError"
    assert fragment in caught.value.body["message"]
    assert vllm.pending == 0


async def test_openai_accepts_a_tool_round_trip(oai: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [
        *USER,
        ASSISTANT_CALL,
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    ]
    completion = await oai.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    assert completion.choices[0].message.content == "ok"


async def test_openai_error_mid_stream_raises_while_iterating(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(ErrorMidStream(2, "InternalServerError", "engine dead", then=Reply("a b c")))
    stream = await oai.chat.completions.create(model=MODEL, messages=USER, stream=True)
    seen: list[object] = []
    with pytest.raises(openai.APIError, match="engine dead"):
        await _drain(stream, seen)
    assert len(seen) == 2


async def test_openai_drop_mid_stream_raises_while_iterating(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(DropMidStream(after_chunks=3, then=Reply("a b c d e f")))
    stream = await oai.chat.completions.create(model=MODEL, messages=USER, stream=True)
    seen: list[object] = []
    with pytest.raises(openai.APIConnectionError):
        await _drain(stream, seen)
    assert len(seen) == 3


async def test_openai_drop_of_a_non_streaming_response(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(DropMidStream(after_chunks=0))
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(model=MODEL, messages=USER)


async def test_openai_slow_first_token_trips_the_read_timeout(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI
) -> None:
    vllm.enqueue(SlowFirstToken(SLOW_S))
    started = time.monotonic()
    stream = await oai.chat.completions.create(
        model=MODEL,
        messages=USER,
        stream=True,
        timeout=TIMEOUT_S,
    )
    assert time.monotonic() - started < SLOW_S  # the headers came at once
    with pytest.raises(openai.APITimeoutError):
        async for _ in stream:
            pass


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_delay_trips_the_timeout(
    vllm: FakeOpenAIServer, oai: openai.AsyncOpenAI, stream: bool
) -> None:
    vllm.enqueue(Delay(SLOW_S))
    with pytest.raises(openai.APITimeoutError):
        await oai.chat.completions.create(
            model=MODEL,
            messages=USER,
            stream=stream,
            timeout=TIMEOUT_S,
        )


async def test_openai_stopped_server_is_a_connection_error() -> None:
    server = FakeOpenAIServer()
    with server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        await client.chat.completions.create(model=MODEL, messages=USER)
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model=MODEL, messages=USER)
    await client.close()


# -- Anthropic ------------------------------------------------------------------------------


async def test_anthropic_plain_reply_and_recorded_request(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(Reply("Bom dia!", usage=Usage(input_tokens=9, output_tokens=3)))
    raw = await ant.messages.with_raw_response.create(
        model=CLAUDE,
        max_tokens=64,
        system="Be brief.",
        messages=CLAUDE_USER,
    )
    message = await raw.parse()

    assert raw.headers["request-id"].startswith("req_")
    assert (message.type, message.role, message.model) == ("message", "assistant", CLAUDE)
    assert [b.type for b in message.content] == ["text"]
    assert _text(message.content[0]) == "Bom dia!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 3)

    [request] = claude.scripted_requests
    assert request.path == "/v1/messages"
    assert request.headers["anthropic-version"]
    assert request.body == {
        "model": CLAUDE,
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": USER,
    }


async def test_anthropic_non_streaming_tool_use(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(
        Reply("", tool_calls=[ToolCall("get_weather", {"city": "Recife"}, id="toolu_1")])
    )
    message = await ant.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=CLAUDE_USER,
        tools=[CLAUDE_TOOL],
    )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == ("toolu_1", "get_weather", {"city": "Recife"})


async def test_anthropic_stream_accumulates_text_and_tool_input(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    reply = Reply(
        "Let me check the weather.",
        tool_calls=[ToolCall("get_weather", {"city": "São Paulo", "days": [1, 2]})],
        usage=Usage(20, 11),
    )
    claude.enqueue(reply)
    async with ant.messages.stream(
        model=CLAUDE,
        max_tokens=64,
        messages=CLAUDE_USER,
        tools=[CLAUDE_TOOL],
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()

    assert "ping" not in kinds  # the SDK swallows pings
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert _text(final.content[0]) == "Let me check the weather."
    tool = final.content[1]
    assert tool.type == "tool_use"
    assert tool.id.startswith("toolu_")
    assert tool.input == {"city": "São Paulo", "days": [1, 2]}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 11)


async def test_anthropic_raw_event_sequence(claude: FakeAnthropicServer) -> None:
    claude.enqueue(Reply("a b", tool_calls=[ToolCall("get_weather", '{"city": "Natal"}')]))
    body = {"model": CLAUDE, "max_tokens": 8, "messages": USER, "stream": True}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", claude.url + "/v1/messages", json=body, headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["request-id"].startswith("req_")
        lines = [line async for line in response.aiter_lines()]
    names = [line[7:] for line in lines if line.startswith("event: ")]
    payloads = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [p["type"] for p in payloads] == names
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    json_pieces = [
        p["delta"]["partial_json"] for p in payloads if p.get("index") == 1 and "delta" in p
    ]
    assert "".join(json_pieces) == '{"city": "Natal"}'
    assert payloads[0]["message"]["content"] == []
    assert payloads[0]["message"]["stop_reason"] is None


@pytest.mark.parametrize(
    ("fail", "error", "status"),
    [
        (FakeAnthropicServer.overloaded(), anthropic.OverloadedError, 529),
        (FakeAnthropicServer.rate_limited(retry_after=2), anthropic.RateLimitError, 429),
        (FakeAnthropicServer.api_error(), anthropic.InternalServerError, 500),
        (Fail(400, "invalid_request_error", "prompt is too long"), anthropic.BadRequestError, 400),
    ],
)
async def test_anthropic_failures_map_to_sdk_errors(
    claude: FakeAnthropicServer,
    ant: anthropic.AsyncAnthropic,
    fail: Fail,
    error: type[anthropic.APIStatusError],
    status: int,
) -> None:
    claude.enqueue(fail)
    with pytest.raises(error) as caught:
        await ant.messages.create(model=CLAUDE, max_tokens=8, messages=CLAUDE_USER)
    exc = caught.value
    assert exc.status_code == status
    assert exc.type == fail.error_type
    assert exc.api_message == fail.message
    assert exc.request_id is not None
    assert exc.request_id.startswith("req_")
    assert isinstance(exc.body, dict)
    assert exc.body["request_id"] == exc.request_id
    assert exc.response.headers.get("retry-after") == fail.headers.get("retry-after")


async def test_anthropic_spend_limit_is_a_distinct_429(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(FakeAnthropicServer.spend_limit())
    with pytest.raises(anthropic.RateLimitError) as caught:
        await ant.messages.create(model=CLAUDE, max_tokens=8, messages=CLAUDE_USER)
    assert isinstance(caught.value, EnforcedSpendLimitReachedError)
    assert caught.value.error_code == "enforced_spend_limit_reached"
    assert "retry-after" not in caught.value.response.headers


async def test_anthropic_error_event_mid_stream_raises_while_iterating(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(ErrorMidStream(after_events=4, then=Reply("one two three four")))
    stream = await ant.messages.create(
        model=CLAUDE, max_tokens=8, messages=CLAUDE_USER, stream=True
    )
    seen: list[object] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await _drain(stream, seen)
    # message_start, content_block_start, (ping, which the SDK drops), one text delta
    assert [type(e).__name__ for e in seen][-1] == "RawContentBlockDeltaEvent"
    assert len(seen) == 3
    # The SDK builds the error from the 200 stream response: classify by `type`, not status.
    assert caught.value.type == "overloaded_error"
    assert caught.value.status_code == 200


async def test_anthropic_mid_stream_error_without_streaming_is_a_529(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(ErrorMidStream(after_events=2))
    with pytest.raises(anthropic.OverloadedError):
        await ant.messages.create(model=CLAUDE, max_tokens=8, messages=CLAUDE_USER)


async def test_anthropic_drop_mid_stream_raises_while_iterating(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(DropMidStream(after_chunks=4, then=Reply("one two three four")))
    stream = await ant.messages.create(
        model=CLAUDE, max_tokens=8, messages=CLAUDE_USER, stream=True
    )
    seen: list[object] = []
    # The installed SDK lets the transport error out of the iterator unwrapped.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        await _drain(stream, seen)
    assert len(seen) == 3


async def test_anthropic_slow_first_token_trips_the_read_timeout(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(SlowFirstToken(SLOW_S))
    with pytest.raises((anthropic.APITimeoutError, httpx2.TimeoutException)):
        async with ant.messages.stream(
            model=CLAUDE,
            max_tokens=8,
            messages=CLAUDE_USER,
            timeout=TIMEOUT_S,
        ) as stream:
            await stream.get_final_message()


async def test_anthropic_delay_trips_the_timeout(
    claude: FakeAnthropicServer, ant: anthropic.AsyncAnthropic
) -> None:
    claude.enqueue(Delay(SLOW_S, then=FakeAnthropicServer.overloaded()))
    with pytest.raises(anthropic.APITimeoutError):
        await ant.messages.create(
            model=CLAUDE, max_tokens=8, messages=CLAUDE_USER, timeout=TIMEOUT_S
        )


async def test_anthropic_stopped_server_is_a_connection_error() -> None:
    server = FakeAnthropicServer()
    with server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(model=CLAUDE, max_tokens=8, messages=CLAUDE_USER)
    await client.close()


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "k"}, 400, "invalid_request_error"),
        ({"authorization": "Bearer k", "anthropic-version": "2023-06-01"}, 200, None),
    ],
)
async def test_anthropic_requires_a_key_and_a_version(
    claude: FakeAnthropicServer, headers: dict[str, str], status: int, error_type: str | None
) -> None:
    body = {"model": CLAUDE, "max_tokens": 8, "messages": USER}
    async with httpx.AsyncClient() as http:
        response = await http.post(claude.url + "/v1/messages", json=body, headers=headers)
    assert response.status_code == status
    if error_type is not None:
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == error_type


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}


def _result(tool_use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "18C"}


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": [{"role": "system", "content": "x"}, *USER]}, "top-level `system`"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "first message"),
        ({"messages": [*USER, *USER]}, "alternate"),
        (
            {
                "messages": [
                    *USER,
                    {"role": "assistant", "content": [TOOL_USE]},
                    {"role": "user", "content": [_result("toolu_2")]},
                ]
            },
            "toolu_2",
        ),
        (
            {"messages": [*USER, {"role": "assistant", "content": [TOOL_USE]}, *USER]},
            "without `tool_result`",
        ),
        ({"tools": [{**CLAUDE_TOOL, "name": "get weather"}]}, "tools.0.name"),
        ({"tools": [{"name": "get_weather"}]}, "input_schema"),
        ({"tools": [CLAUDE_TOOL], "tool_choice": {"type": "function"}}, "tool_choice"),
        ({"tools": [CLAUDE_TOOL], "tool_choice": {"type": "tool", "name": "nope"}}, "nope"),
    ],
)
async def test_anthropic_rejects_what_the_api_rejects(
    claude: FakeAnthropicServer,
    ant: anthropic.AsyncAnthropic,
    changes: dict[str, Any],
    fragment: str,
) -> None:
    body: dict[str, Any] = {"model": CLAUDE, "max_tokens": 8, "messages": USER, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(anthropic.BadRequestError) as caught:
        await ant.post("/v1/messages", body=body, cast_to=anthropic.types.Message)
    assert caught.value.type == "invalid_request_error"
    assert caught.value.api_message is not None
    assert fragment in caught.value.api_message


async def test_anthropic_accepts_a_tool_round_trip(ant: anthropic.AsyncAnthropic) -> None:
    messages: list[Any] = [
        *CLAUDE_USER,
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, TOOL_USE]},
        {"role": "user", "content": [_result("toolu_1"), {"type": "text", "text": "and?"}]},
    ]
    message = await ant.messages.create(
        model=CLAUDE,
        max_tokens=8,
        messages=messages,
        tools=[CLAUDE_TOOL],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    assert _text(message.content[0]) == "ok"
