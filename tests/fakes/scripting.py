"""Scripted steps shared by both fakes, and the thread-safe queue that hands them out.

A test queues steps on its own event loop; the server thread pops one per scripted request
(`POST /v1/chat/completions`, `POST /v1/messages`). Every such request consumes exactly one step,
even one that then fails validation; an empty queue falls back to the server's default step.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model emits.

    `arguments`: OpenAI fake sends a `str` verbatim (so it may be malformed JSON, or an array
    serialized as a string, as Llama does) and JSON-encodes a mapping. Anthropic fake sends a
    mapping as `input`; a `str` is streamed verbatim as `partial_json` pieces (and parsed, if it
    parses, for a non-streaming reply).
    """

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Reply:
    """A successful answer. `usage=None` estimates tokens; `finish_reason=None` picks
    "tool_calls"/"tool_use" when there are tool calls, else "stop"/"end_turn"."""

    text: str = "ok"
    tool_calls: Sequence[ToolCall] = ()
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Fail:
    """An HTTP error with the provider's error body.

    OpenAI/vLLM body: `{"error": {"message", "type", "param", "code"}}` (`code` is the HTTP
    status, as vLLM sends it); `details` entries are merged into that error object.
    Anthropic body: `{"type": "error", "error": {"type", "message"[, "details"]}, "request_id"}`.
    `raw_body` replaces the JSON body with plain text (a proxy or load balancer answering).
    """

    status: int
    error_type: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] | None = None
    raw_body: str | None = None


@dataclass(frozen=True)
class Delay:
    """Hold the request `seconds` before sending anything at all, then run `then`."""

    seconds: float
    then: Step = Reply()


@dataclass(frozen=True)
class SlowFirstToken:
    """Streaming: send 200 and headers at once, wait `seconds`, then stream `then`.
    Non-streaming: just wait before answering."""

    seconds: float
    then: Reply = Reply()


@dataclass(frozen=True)
class DropMidStream:
    """Send the first `after_chunks` SSE events of `then`, then abort the connection (no
    `[DONE]` / `message_stop`). Non-streaming: send part of the body, then abort."""

    after_chunks: int
    then: Reply = Reply()


@dataclass(frozen=True)
class ErrorMidStream:
    """Send the first `after_events` SSE events of `then`, then an in-band error event and end
    the stream. Anthropic: `event: error`; OpenAI/vLLM: `data: {"error": {...}}` then `[DONE]`.
    Non-streaming: the matching HTTP error (529 for Anthropic `overloaded_error`)."""

    after_events: int
    error_type: str = "overloaded_error"
    message: str = "Overloaded"
    then: Reply = Reply()


Step = Reply | Fail | Delay | SlowFirstToken | DropMidStream | ErrorMidStream

DEFAULT_REPLY = Reply()
"""What a request gets when no step is queued: a plain "ok"."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: Any
    """Parsed JSON, or None when the body is empty or not JSON."""
    raw_body: bytes


class Script:
    """A FIFO of steps plus the log of requests, safe to use from any thread."""

    def __init__(self, default: Step) -> None:
        self._lock = threading.Lock()
        self._steps: deque[Step] = deque()
        self._requests: list[RecordedRequest] = []
        self.default: Step = default
        self._initial_default = default

    def enqueue(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def pop(self) -> Step:
        with self._lock:
            return self._steps.popleft() if self._steps else self.default

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._steps)

    def reset(self) -> None:
        """Forget queued steps and recorded requests, and restore the initial default."""
        with self._lock:
            self._steps.clear()
            self._requests.clear()
            self.default = self._initial_default

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)


def split_words(text: str) -> list[str]:
    """Stream text one word per delta, whitespace kept with the word before it."""
    return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])


def split_in_three(text: str) -> list[str]:
    """Stream tool arguments in (up to) three pieces, so a parser must join them."""
    if not text:
        return []
    size = -(-len(text) // 3)
    return [text[i : i + size] for i in range(0, len(text), size)]


def estimate_usage(reply: Reply, request_body: bytes) -> Usage:
    if reply.usage is not None:
        return reply.usage
    output_chars = len(reply.text) + sum(len(c.arguments_json()) for c in reply.tool_calls)
    return Usage(
        input_tokens=max(1, len(request_body) // 4), output_tokens=max(1, output_chars // 4)
    )
