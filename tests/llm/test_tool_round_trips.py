"""Tool calls through both providers: the call comes back parsed, its result goes back in."""

from __future__ import annotations

from typing import Any

import pytest

from cienty_llm.types import ChatRequest, ForcedTool, Message, Tool, ToolCall
from tests.fakes import FakeAnthropicServer, FakeOpenAIServer, Reply
from tests.fakes import ToolCall as ScriptedCall
from tests.llm.conftest import MakeClient, sample

SEARCH = Tool(
    "search_catalog",
    "Search the catalog",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 2},
            "skus": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
)
QUESTION = [Message.system("Use as ferramentas."), Message.user("quanto está a dipirona?")]
RESULT = '{"products": [{"sku": "DIP-500", "price_cents": 1290}]}'


def _conversation(call: ToolCall) -> list[Message]:
    return [*QUESTION, Message.assistant("", [call]), Message.tool_result(call.id, RESULT)]


async def test_round_trip_through_the_self_hosted_model(
    make_client: MakeClient, primary: FakeOpenAIServer
) -> None:
    client = make_client()
    primary.enqueue(
        Reply("", tool_calls=[ScriptedCall("search_catalog", '{"query": "dipirona"}', id="c1")])
    )
    first = await client.complete(ChatRequest(QUESTION, [SEARCH]))
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls == (ToolCall("c1", "search_catalog", {"query": "dipirona"}),)
    primary.enqueue(Reply("A dipirona está R$ 12,90."))
    second = await client.complete(ChatRequest(_conversation(first.tool_calls[0]), [SEARCH]))
    assert second.text == "A dipirona está R$ 12,90."
    sent = primary.scripted_requests[1].body["messages"]
    assert sent[2]["tool_calls"][0]["function"] == {
        "name": "search_catalog",
        "arguments": '{"query": "dipirona"}',
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": RESULT}


async def test_round_trip_through_claude(
    make_client: MakeClient, down_url: str, fallback: FakeAnthropicServer
) -> None:
    client = make_client(primary_url=down_url)
    fallback.enqueue(
        Reply(
            "Vou procurar.",
            tool_calls=[ScriptedCall("search_catalog", {"query": "dipirona"}, id="toolu_1")],
        )
    )
    first = await client.complete(ChatRequest(QUESTION, [SEARCH]))
    assert first.provider == "anthropic"
    assert first.finish_reason == "tool_calls"
    assert first.text == "Vou procurar."
    assert first.tool_calls == (ToolCall("toolu_1", "search_catalog", {"query": "dipirona"}),)
    fallback.enqueue(Reply("Está R$ 12,90."))
    call = first.tool_calls[0]
    history = [*QUESTION, first.message, Message.tool_result(call.id, RESULT)]
    second = await client.complete(ChatRequest(history, [SEARCH]))
    assert second.text == "Está R$ 12,90."
    sent: list[dict[str, Any]] = fallback.scripted_requests[1].body["messages"]
    assert sent[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "search_catalog",
        "input": {"query": "dipirona"},
    }
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": RESULT, "is_error": False}
    ]


async def test_a_conversation_started_on_llama_continues_on_claude(
    make_client: MakeClient, primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    # The tool call id came from vLLM; Claude must accept it as a tool_use id in the history.
    llama_call = ToolCall("chatcmpl-tool-7f3a", "search_catalog", {"query": "dipirona"})
    primary.enqueue(primary.internal_error(), primary.internal_error())
    fallback.enqueue(Reply("Está R$ 12,90."))
    completion = await make_client().complete(ChatRequest(_conversation(llama_call), [SEARCH]))
    assert completion.provider == "anthropic"
    assert completion.text == "Está R$ 12,90."


async def test_repairable_arguments_are_repaired(
    make_client: MakeClient, primary: FakeOpenAIServer
) -> None:
    before = sample("cienty_llm_tool_call_fixes_total", provider="self_hosted", outcome="repaired")
    slip = '{"query": "dipirona", "skus": "[\\"DIP-500\\"]"}'  # array serialised as a string
    primary.enqueue(Reply("", tool_calls=[ScriptedCall("search_catalog", slip, id="c1")]))
    completion = await make_client().complete(ChatRequest(QUESTION, [SEARCH]))
    assert completion.tool_calls[0].arguments == {"query": "dipirona", "skus": ["DIP-500"]}
    after = sample("cienty_llm_tool_call_fixes_total", provider="self_hosted", outcome="repaired")
    assert after - before == 1


async def test_invalid_arguments_are_reasked_once_with_the_tool_forced(
    make_client: MakeClient, primary: FakeOpenAIServer
) -> None:
    primary.enqueue(
        Reply("", tool_calls=[ScriptedCall("search_catalog", '{"query": "d"', id="c1")]),
        Reply("", tool_calls=[ScriptedCall("search_catalog", '{"query": "dipirona"}', id="c2")]),
    )
    completion = await make_client().complete(ChatRequest(QUESTION, [SEARCH]))
    assert completion.tool_calls == (ToolCall("c2", "search_catalog", {"query": "dipirona"}),)
    assert completion.invalid_tool_calls == ()
    reask = primary.scripted_requests[1].body
    assert reask["tool_choice"] == {"type": "function", "function": {"name": "search_catalog"}}
    assert "search_catalog" in reask["messages"][-1]["content"]


async def test_arguments_still_invalid_after_the_reask_are_reported_not_returned(
    make_client: MakeClient, primary: FakeOpenAIServer
) -> None:
    bad = Reply("", tool_calls=[ScriptedCall("search_catalog", '{"query": 7}', id="c1")])
    primary.enqueue(bad, bad)
    completion = await make_client().complete(ChatRequest(QUESTION, [SEARCH]))
    assert completion.tool_calls == ()
    assert [call.name for call in completion.invalid_tool_calls] == ["search_catalog"]
    assert "query" in completion.invalid_tool_calls[0].problem
    assert len(primary.scripted_requests) == 2  # one re-ask, not a loop


@pytest.mark.parametrize("provider", ["self_hosted", "anthropic"])
async def test_forced_tool_reaches_the_wire(
    make_client: MakeClient,
    primary: FakeOpenAIServer,
    fallback: FakeAnthropicServer,
    down_url: str,
    provider: str,
) -> None:
    call = ScriptedCall("search_catalog", {"query": "dipirona"}, id="x1")
    primary.enqueue(Reply("", tool_calls=[call]))
    fallback.enqueue(Reply("", tool_calls=[call]))
    client = make_client() if provider == "self_hosted" else make_client(primary_url=down_url)
    request = ChatRequest(QUESTION, [SEARCH], tool_choice=ForcedTool("search_catalog"))
    completion = await client.complete(request)
    assert completion.provider == provider
    assert completion.tool_calls[0].arguments == {"query": "dipirona"}
