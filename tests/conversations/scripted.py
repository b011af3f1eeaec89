"""An in-process model that answers from a script: zero latency, and every request recorded.

The agent sees exactly what the LLM client would give it (`Completion`s); the wire format is
covered by the end-to-end tests, which use the OpenAI fake server instead.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cienty_llm.errors import FailureReason, LLMUnavailable, ProviderFailure
from cienty_llm.types import ChatRequest, Completion, Message, ToolCall, Usage

_ids = itertools.count(1)


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Calls:
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Down:
    """Every provider failed."""


Step = Say | Call | Calls | Down


def call(name: str, **arguments: Any) -> Call:
    return Call(name, arguments)


class ScriptedModel:
    def __init__(self) -> None:
        self.steps: deque[Step] = deque()
        self.requests: list[ChatRequest] = []

    def script(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def reset(self) -> None:
        self.steps.clear()
        self.requests.clear()

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        if not self.steps:
            raise AssertionError("the scripted model was called more often than scripted")
        step = self.steps.popleft()
        if isinstance(step, Down):
            raise LLMUnavailable(
                [
                    ProviderFailure("self_hosted", FailureReason.CONNECT, "connection refused"),
                    ProviderFailure(
                        "anthropic", FailureReason.OVERLOADED, "overloaded", status=529
                    ),
                ]
            )
        if isinstance(step, Say):
            message = Message.assistant(step.text)
            reason = "stop"
        else:
            calls = step.calls if isinstance(step, Calls) else (step,)
            message = Message.assistant(
                tool_calls=[ToolCall(f"call_{next(_ids)}", c.name, c.arguments) for c in calls]
            )
            reason = "tool_calls"
        return Completion(
            message=message,
            finish_reason=reason,  # type: ignore[arg-type]
            usage=Usage(10, 5),
            provider="scripted",
            model="scripted",
        )

    def tool_names(self, index: int = -1) -> set[str]:
        return {tool.name for tool in self.requests[index].tools}
