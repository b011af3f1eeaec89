"""Tool-call arguments from a model: parse, repair the known Llama 3 slips, validate.

Llama 3.x JSON tool calling (vLLM's `llama3_json` parser) sometimes wraps the arguments in a
code fence, double-encodes them, or serialises an array or object argument as a string. Those
are repaired; anything still invalid against the tool's schema is reported, never executed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cienty_llm.schemas import validation_errors
from cienty_llm.types import InvalidToolCall, Tool, ToolCall


@dataclass(frozen=True)
class RawToolCall:
    """A call as the provider returned it: the arguments are still text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Resolution:
    call: ToolCall | InvalidToolCall
    repaired: bool = False


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.removeprefix("json").strip()
    return text


def parse_arguments(raw: str) -> tuple[dict[str, Any], bool]:
    """The arguments as an object, and whether it took a repair to get there."""
    text = _strip_fence(raw)
    repaired = text != raw.strip()
    if not text:
        return {}, repaired
    value = json.loads(text)
    if isinstance(value, str):  # double-encoded
        value = json.loads(value)
        repaired = True
    if not isinstance(value, dict):
        raise ValueError(f"arguments must be a JSON object, got {type(value).__name__}")
    return value, repaired


def _coerce(value: object, schema: Mapping[str, Any]) -> object:
    """Undo a string-serialised array/object/number/boolean where the schema wants one."""
    wanted = schema.get("type")
    if not isinstance(value, str) or wanted in (None, "string"):
        return value
    if wanted in ("array", "object", "integer", "number"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if wanted == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def repair(arguments: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    return {
        name: _coerce(value, properties[name]) if name in properties else value
        for name, value in arguments.items()
    }


def resolve(raw: RawToolCall, tools: Sequence[Tool]) -> Resolution:
    tool = next((tool for tool in tools if tool.name == raw.name), None)
    if tool is None:
        return Resolution(InvalidToolCall(raw.id, raw.name, raw.arguments, "unknown tool"))
    try:
        arguments, repaired = parse_arguments(raw.arguments)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        problem = f"arguments are not a JSON object: {error}"
        return Resolution(InvalidToolCall(raw.id, raw.name, raw.arguments, problem))
    errors = validation_errors(arguments, tool.parameters)
    if errors:
        fixed = repair(arguments, tool.parameters)
        if fixed != arguments and not validation_errors(fixed, tool.parameters):
            arguments, repaired, errors = fixed, True, []
    if errors:
        return Resolution(InvalidToolCall(raw.id, raw.name, raw.arguments, "; ".join(errors)))
    return Resolution(ToolCall(raw.id, raw.name, arguments), repaired)
