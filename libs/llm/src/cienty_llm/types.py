"""The provider-neutral conversation model: messages, tools, tool calls, usage, stream events."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cienty_llm.schemas import check_schema

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]

# Anthropic's rule for tool names, the stricter of the two providers.
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for; `arguments` were parsed and validated against the schema."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class InvalidToolCall:
    """A call whose arguments could not be parsed, repaired or validated."""

    id: str
    name: str
    raw_arguments: str
    problem: str


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    # Only for role "tool": the call this message answers, and whether the tool failed.
    tool_call_id: str | None = None
    is_error: bool = False

    def __post_init__(self) -> None:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool calls")

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: Sequence[ToolCall] = ()) -> Message:
        return cls("assistant", text, tuple(tool_calls))

    @classmethod
    def tool_result(cls, call_id: str, content: str, *, is_error: bool = False) -> Message:
        return cls("tool", content, tool_call_id=call_id, is_error=is_error)


@dataclass(frozen=True)
class Tool:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def __post_init__(self) -> None:
        if not _TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_TOOL_NAME.pattern}")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON Schema object")
        check_schema(self.parameters)


@dataclass(frozen=True)
class ForcedTool:
    """`tool_choice` naming the one tool the model must call."""

    name: str


ToolChoice = Literal["auto", "required", "none"] | ForcedTool


@dataclass(frozen=True)
class ChatRequest:
    messages: Sequence[Message]
    tools: Sequence[Tool] = ()
    tool_choice: ToolChoice = "auto"
    max_tokens: int | None = None  # None: the client's configured default
    temperature: float | None = None
    # When set, the answer must be a JSON document valid against this schema (vLLM structured
    # outputs on the self-hosted model; a forced tool on Claude).
    response_schema: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a chat request needs at least one message")
        names = {tool.name for tool in self.tools}
        if isinstance(self.tool_choice, ForcedTool) and self.tool_choice.name not in names:
            raise ValueError(f"tool_choice names unknown tool {self.tool_choice.name!r}")
        if self.tool_choice == "required" and not self.tools:
            raise ValueError("tool_choice 'required' needs tools")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be positive")


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """The assistant's answer, and who gave it."""

    message: Message
    finish_reason: FinishReason
    usage: Usage
    provider: str
    model: str
    # Calls dropped because their arguments stayed invalid after one repair and one re-ask.
    invalid_tool_calls: tuple[InvalidToolCall, ...] = ()
    # Providers that failed before this one answered (empty when the first one did).
    failed_providers: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return self.message.content

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.message.tool_calls

    @property
    def used_fallback(self) -> bool:
        return bool(self.failed_providers)


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text, as soon as the model produced it."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The last event of a stream: the whole answer."""

    completion: Completion


StreamEvent = TextDelta | Finished
