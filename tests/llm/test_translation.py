"""One conversation, translated to each wire format: roles, tools, tool calls and their results."""

import pytest

from cienty_llm.providers import anthropic as anthropic_wire
from cienty_llm.providers import openai_compatible as openai_wire
from cienty_llm.providers.base import retry_after_seconds
from cienty_llm.types import ChatRequest, ForcedTool, Message, Tool, ToolCall

GET_ORDER = Tool(
    "get_order",
    "Status of one of my orders",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
CALL = ToolCall("call_7", "get_order", {"order_id": "A1"})
CONVERSATION = [
    Message.system("Você é o assistente da Cienty."),
    Message.user("cadê meu pedido A1?"),
    Message.assistant("Vou verificar.", [CALL]),
    Message.tool_result("call_7", '{"status": "SHIPPED"}'),
    Message.user("e quando chega?"),
]


def test_openai_keeps_roles_and_serialises_arguments() -> None:
    body = openai_wire.request_body(ChatRequest(CONVERSATION, [GET_ORDER]), "llama", 256)
    assert body["model"] == "llama"
    assert body["max_tokens"] == 256
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assistant = body["messages"][2]
    assert assistant["tool_calls"] == [
        {
            "id": "call_7",
            "type": "function",
            "function": {"name": "get_order", "arguments": '{"order_id": "A1"}'},
        }
    ]
    assert body["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_7",
        "content": '{"status": "SHIPPED"}',
    }
    assert body["tools"][0]["function"]["parameters"]["required"] == ["order_id"]
    assert body["tool_choice"] == "auto"


def test_openai_named_tool_and_structured_outputs() -> None:
    forced = ChatRequest(CONVERSATION, [GET_ORDER], tool_choice=ForcedTool("get_order"))
    body = openai_wire.request_body(forced, "llama", 64)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_order"}}
    schema = {"type": "object", "properties": {"intent": {"enum": ["order", "other"]}}}
    body = openai_wire.request_body(ChatRequest(CONVERSATION, response_schema=schema), "m", 64)
    # vLLM's current field; `guided_json` was removed in vLLM 0.12.
    assert body["extra_body"] == {"structured_outputs": {"json": schema}}
    assert "tools" not in body


def test_openai_tool_error_is_marked_in_the_content() -> None:
    request = ChatRequest([*CONVERSATION[:3], Message.tool_result("call_7", "boom", is_error=True)])
    body = openai_wire.request_body(request, "m", 8)
    assert body["messages"][3]["content"] == "ERROR: boom"


def test_anthropic_hoists_system_and_merges_tool_results_into_user_turns() -> None:
    body = anthropic_wire.request_body(
        ChatRequest(CONVERSATION, [GET_ORDER]), "claude", 256, disable_parallel_tool_use=True
    )
    assert body["system"] == "Você é o assistente da Cienty."
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Vou verificar."},
        {"type": "tool_use", "id": "call_7", "name": "get_order", "input": {"order_id": "A1"}},
    ]
    assert body["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_7",
            "content": '{"status": "SHIPPED"}',
            "is_error": False,
        },
        {"type": "text", "text": "e quando chega?"},
    ]
    assert body["tools"] == [
        {
            "name": "get_order",
            "description": "Status of one of my orders",
            "input_schema": GET_ORDER.parameters,
        }
    ]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", {"type": "any", "disable_parallel_tool_use": False}),
        ("none", {"type": "none"}),
        (
            ForcedTool("get_order"),
            {"type": "tool", "name": "get_order", "disable_parallel_tool_use": False},
        ),
    ],
)
def test_anthropic_tool_choice(choice: object, wire: dict[str, object]) -> None:
    request = ChatRequest(CONVERSATION, [GET_ORDER], tool_choice=choice)  # type: ignore[arg-type]
    body = anthropic_wire.request_body(request, "c", 8, disable_parallel_tool_use=False)
    assert body["tool_choice"] == wire


def test_anthropic_conversation_opening_with_the_assistant_gets_a_user_turn_first() -> None:
    request = ChatRequest([Message.assistant("Seu pedido saiu para entrega."), Message.user("ok")])
    body = anthropic_wire.request_body(request, "c", 8, disable_parallel_tool_use=True)
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert "tools" not in body
    assert "system" not in body


def test_anthropic_structured_answer_is_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"intent": {"type": "string"}}}
    request = ChatRequest(CONVERSATION, response_schema=schema)
    body = anthropic_wire.request_body(request, "c", 8, disable_parallel_tool_use=True)
    assert body["tool_choice"]["name"] == anthropic_wire.STRUCTURED_OUTPUT_TOOL
    assert body["tools"][-1]["input_schema"] == schema


def test_requests_are_checked() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        ChatRequest([])
    with pytest.raises(ValueError, match="unknown tool"):
        ChatRequest(CONVERSATION, [GET_ORDER], tool_choice=ForcedTool("nope"))
    with pytest.raises(ValueError, match="tool_call_id"):
        Message("tool", "x")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds
