"""Tool-call arguments: parsed, repaired where Llama 3 is known to slip, validated, or rejected."""

import pytest

from cienty_llm.tool_calls import RawToolCall, resolve
from cienty_llm.types import InvalidToolCall, Tool, ToolCall

CREATE_ORDER = Tool(
    "create_order",
    "Place an order",
    {
        "type": "object",
        "properties": {
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1},
                    },
                    "required": ["sku", "quantity"],
                },
                "minItems": 1,
            },
            "confirm": {"type": "boolean"},
        },
        "required": ["lines"],
        "additionalProperties": False,
    },
)
TOOLS = [CREATE_ORDER, Tool("list_orders", "My orders")]


def _resolve(arguments: str, name: str = "create_order") -> ToolCall | InvalidToolCall:
    return resolve(RawToolCall("call_1", name, arguments), TOOLS).call


def test_valid_arguments_pass_unchanged() -> None:
    call = _resolve('{"lines": [{"sku": "DIP-500", "quantity": 10}]}')
    assert call == ToolCall(
        "call_1", "create_order", {"lines": [{"sku": "DIP-500", "quantity": 10}]}
    )


def test_empty_arguments_mean_no_arguments() -> None:
    assert _resolve("", "list_orders") == ToolCall("call_1", "list_orders", {})


@pytest.mark.parametrize(
    "arguments",
    [
        # The array argument serialised as a string: the slip vLLM documents for llama3_json.
        '{"lines": "[{\\"sku\\": \\"DIP-500\\", \\"quantity\\": 10}]"}',
        # The whole object double-encoded.
        '"{\\"lines\\": [{\\"sku\\": \\"DIP-500\\", \\"quantity\\": 10}]}"',
        # Wrapped in a Markdown code fence.
        '```json\n{"lines": [{"sku": "DIP-500", "quantity": 10}]}\n```',
    ],
)
def test_known_slips_are_repaired(arguments: str) -> None:
    resolution = resolve(RawToolCall("call_1", "create_order", arguments), TOOLS)
    assert resolution.repaired
    assert resolution.call == ToolCall(
        "call_1", "create_order", {"lines": [{"sku": "DIP-500", "quantity": 10}]}
    )


def test_boolean_as_string_is_repaired() -> None:
    call = _resolve('{"lines": [{"sku": "A", "quantity": 1}], "confirm": "true"}')
    assert isinstance(call, ToolCall)
    assert call.arguments["confirm"] is True


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ('{"lines": [{"sku": "DIP-500"', "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"lines": []}', "lines"),
        ('{"lines": [{"sku": "A", "quantity": 0}]}', "lines/0/quantity"),
        ('{"lines": [{"sku": "A", "quantity": 1}], "customer_id": "other"}', "customer_id"),
    ],
)
def test_invalid_arguments_are_reported_not_executed(arguments: str, problem: str) -> None:
    call = _resolve(arguments)
    assert isinstance(call, InvalidToolCall)
    assert problem in call.problem
    assert call.raw_arguments == arguments


def test_unknown_tool_is_invalid() -> None:
    call = _resolve("{}", "delete_everything")
    assert isinstance(call, InvalidToolCall)
    assert call.problem == "unknown tool"


def test_tool_definitions_are_checked() -> None:
    with pytest.raises(ValueError, match="must match"):
        Tool("bad name!", "x")
    with pytest.raises(ValueError, match="JSON Schema object"):
        Tool("t", "x", {"type": "array"})
    with pytest.raises(ValueError, match="invalid JSON Schema"):
        Tool("t", "x", {"type": "object", "properties": {"a": {"type": "no-such-type"}}})
