"""A stand-in for Anthropic's Messages API, `POST /v1/messages`. SDK base URL: `server.url`.

Error bodies: `{"type": "error", "error": {"type", "message"}, "request_id": "req_..."}`, with the
same id in the `request-id` header (which every response carries).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from tests.fakes.base import FakeLLMServer, Response, sse
from tests.fakes.scripting import (
    DEFAULT_REPLY,
    ErrorMidStream,
    Fail,
    RecordedRequest,
    Reply,
    Step,
    ToolCall,
    estimate_usage,
    split_in_three,
    split_words,
)

DEFAULT_MODEL = "claude-sonnet-4-6"
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_CHOICE_TYPES = {"auto", "any", "tool", "none"}
_STATUS_OF = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_TAGS = "'auto', 'any', 'tool', 'none'"
_ALTERNATE = 'messages: roles must alternate between "user" and "assistant"'
_NON_EMPTY = (
    "all messages must have non-empty content except for the optional final assistant message"
)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class FakeAnthropicServer(FakeLLMServer):
    scripted_path = "/v1/messages"

    def __init__(self, default: Step = DEFAULT_REPLY, *, strict_turns: bool = True) -> None:
        """`strict_turns` (the default) requires user-first, strictly alternating turns and no
        "system" role in `messages`, which catches translation bugs. The installed SDK (2.x)
        documents that the API merges consecutive same-role turns and types a "system" message
        param, so `strict_turns=False` accepts those as a newer API would."""
        super().__init__(default)
        self.strict_turns = strict_turns

    # -- common failures ------------------------------------------------------------------

    @staticmethod
    def overloaded(message: str = "Overloaded", retry_after: float | None = None) -> Fail:
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return Fail(529, "overloaded_error", message, headers=headers)

    @staticmethod
    def rate_limited(retry_after: float = 1, message: str | None = None) -> Fail:
        message = message or "This request would exceed the rate limit for your organization."
        return Fail(429, "rate_limit_error", message, headers={"retry-after": f"{retry_after:g}"})

    @staticmethod
    def spend_limit() -> Fail:
        """The monthly spend cap: a 429 with no retry-after that must not be retried."""
        return Fail(
            429,
            "rate_limit_error",
            "You have reached your specified API usage limits. "
            "You will regain access on the first of next month.",
            details={"error_code": "enforced_spend_limit_reached"},
        )

    @staticmethod
    def api_error(message: str = "Internal server error") -> Fail:
        return Fail(500, "api_error", message)

    # -- wire format ----------------------------------------------------------------------

    def common_headers(self) -> dict[str, str]:
        return {"request-id": _request_id()}

    def error_response(self, fail: Fail) -> Response:
        request_id = _request_id()
        headers = {"request-id": request_id, **fail.headers}
        if fail.raw_body is not None:
            body = fail.raw_body.encode()
            return Response(fail.status, body, "text/plain; charset=utf-8", headers)
        error: dict[str, Any] = {"type": fail.error_type, "message": fail.message}
        if fail.details is not None:
            error["details"] = dict(fail.details)
        payload = {"type": "error", "error": error, "request_id": request_id}
        return Response.json(fail.status, payload, headers)

    async def other_route(self, request: RecordedRequest) -> Response:
        return self.error_response(Fail(404, "not_found_error", "Not found"))

    def validate(self, request: RecordedRequest) -> Fail | None:
        # The installed SDK (2.x) sends the API key as `Authorization: Bearer`; curl and older
        # SDKs send `x-api-key`. Either one authenticates.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not request.headers.get("x-api-key") and not bearer:
            return Fail(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return Fail(400, "invalid_request_error", "anthropic-version: header is required")
        problem = _check_request(request.body, self.strict_turns)
        return None if problem is None else Fail(400, "invalid_request_error", problem)

    def completion(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        usage = estimate_usage(reply, request.raw_body)
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content += [_tool_use(call, _parsed_input(call)) for call in reply.tool_calls]
        message = self._message(request, content, _stop_reason(reply))
        message["usage"] = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
        }
        return message

    def stream_events(self, reply: Reply, request: RecordedRequest) -> list[bytes]:
        usage = estimate_usage(reply, request.raw_body)
        start = self._message(request, [], None)
        start["usage"] = {"input_tokens": usage.input_tokens, "output_tokens": 1}
        events = [sse({"type": "message_start", "message": start}, "message_start")]
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if reply.text:
            deltas = [{"type": "text_delta", "text": piece} for piece in split_words(reply.text)]
            blocks.append(({"type": "text", "text": ""}, deltas))
        for call in reply.tool_calls:
            pieces = split_in_three(call.arguments_json())
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
            blocks.append((_tool_use(call, {}), deltas))
        for index, (block, deltas) in enumerate(blocks):
            events.append(_event("content_block_start", index=index, content_block=block))
            if index == 0:
                events.append(_event("ping"))
            events += [_event("content_block_delta", index=index, delta=d) for d in deltas]
            events.append(_event("content_block_stop", index=index))
        delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
        events.append(
            _event("message_delta", delta=delta, usage={"output_tokens": usage.output_tokens})
        )
        events.append(_event("message_stop"))
        return events

    def stream_error_events(self, step: ErrorMidStream) -> list[bytes]:
        return [_event("error", error={"type": step.error_type, "message": step.message})]

    def mid_stream_error_as_http(self, step: ErrorMidStream) -> Fail:
        return Fail(_STATUS_OF.get(step.error_type, 500), step.error_type, step.message)

    def _message(
        self, request: RecordedRequest, content: list[dict[str, Any]], stop_reason: str | None
    ) -> dict[str, Any]:
        body = request.body if isinstance(request.body, dict) else {}
        return {
            "id": f"msg_01{_base62(22)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", DEFAULT_MODEL),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
        }


def _event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, kind)


def _base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def _request_id() -> str:
    return f"req_011{_base62(21)}"


def _tool_use(call: ToolCall, tool_input: object) -> dict[str, Any]:
    tool_id = call.id or f"toolu_01{_base62(22)}"
    return {"type": "tool_use", "id": tool_id, "name": call.name, "input": tool_input}


def _parsed_input(call: ToolCall) -> object:
    if not isinstance(call.arguments, str):
        return dict(call.arguments)
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def _stop_reason(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_use" if reply.tool_calls else "end_turn"


def _check_request(body: object, strict_turns: bool) -> str | None:
    """The first problem the Messages API would reject with a 400, if any."""
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a valid string"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or a list of text blocks"
    tool_names, problem = _check_tools(body.get("tools"))
    if problem is None:
        problem = _check_tool_choice(body.get("tool_choice"), tool_names)
    if problem is None:
        problem = _check_messages(body["messages"], strict_turns)
    return problem


def _check_tools(tools: object) -> tuple[set[str], str | None]:
    if tools is None:
        return set(), None
    if not isinstance(tools, list):
        return set(), "tools: Input should be a valid list"
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return names, f"tools.{i}: Input should be a valid dictionary"
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return names, f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if not isinstance(tool.get("input_schema"), dict):
            return names, f"tools.{i}.custom.input_schema: Field required"
        if name in names:
            return names, "tools: Tool names must be unique."
        names.add(name)
    return names, None


def _check_tool_choice(choice: object, tool_names: set[str]) -> str | None:
    if choice is None:
        return None
    if not isinstance(choice, dict) or choice.get("type") not in _TOOL_CHOICE_TYPES:
        return f"tool_choice: Input tag does not match any of the expected tags: {_TAGS}"
    if "disable_parallel_tool_use" in choice and not isinstance(
        choice["disable_parallel_tool_use"], bool
    ):
        return "tool_choice.disable_parallel_tool_use: Input should be a valid boolean"
    if choice["type"] in {"any", "tool"} and not tool_names:
        return "tool_choice: tool_choice may only be specified while providing tools."
    if choice["type"] == "tool" and choice.get("name") not in tool_names:
        return f"tool_choice: Tool '{choice.get('name')}' not found in provided tools"
    return None


def _check_messages(messages: object, strict_turns: bool) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_tool_ids: set[str] = set()
    previous_role: str | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{i}: Input should be a valid dictionary"
        role = message.get("role")
        if role == "system" and not strict_turns:
            continue
        if role == "system":
            return (
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.'
            )
        if role not in {"user", "assistant"}:
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if strict_turns and i == 0 and role != "user":
            return 'messages: first message must use the "user" role'
        if strict_turns and role == previous_role:
            return f'{_ALTERNATE}, but found multiple "{role}" roles in a row'
        blocks, problem = _blocks(i, message.get("content"), last=i == len(messages) - 1)
        if problem is not None:
            return problem
        if role == "user":
            problem = _check_tool_results(i, blocks, previous_tool_ids)
        else:
            problem = _check_assistant_blocks(i, blocks)
        if problem is not None:
            return problem
        if previous_tool_ids and role == "assistant":
            return _unanswered(i - 1, previous_tool_ids)
        previous_tool_ids = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        previous_role = role
    return None


def _blocks(i: int, content: object, *, last: bool) -> tuple[list[dict[str, Any]], str | None]:
    if isinstance(content, str):
        if not content and not last:
            return [], f"messages.{i}: {_NON_EMPTY}"
        return [{"type": "text", "text": content}], None
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        return [], f"messages.{i}.content: Input should be a valid string or list of content blocks"
    if not content and not last:
        return [], f"messages.{i}: {_NON_EMPTY}"
    for j, block in enumerate(content):
        if block.get("type") == "text" and not block.get("text"):
            return [], f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
    return content, None


def _check_tool_results(i: int, blocks: list[dict[str, Any]], tool_use_ids: set[str]) -> str | None:
    answered: set[str] = set()
    for j, block in enumerate(blocks):
        if block.get("type") == "tool_use":
            return (
                f"messages.{i}.content.{j}: `tool_use` blocks can only be in `assistant` messages"
            )
        if block.get("type") != "tool_result":
            continue
        tool_use_id = block.get("tool_use_id")
        if tool_use_id not in tool_use_ids:
            return (
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {tool_use_id}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        answered.add(tool_use_id)
    if tool_use_ids - answered:
        return _unanswered(i - 1, tool_use_ids - answered)
    return None


def _check_assistant_blocks(i: int, blocks: list[dict[str, Any]]) -> str | None:
    for j, block in enumerate(blocks):
        if block.get("type") == "tool_result":
            return f"messages.{i}.content.{j}: `tool_result` blocks can only be in `user` messages"
        if block.get("type") == "tool_use" and (
            not isinstance(block.get("id"), str) or not isinstance(block.get("input"), dict)
        ):
            return f"messages.{i}.content.{j}: `tool_use` needs an `id` and an object `input`"
    return None


def _unanswered(i: int, ids: set[str]) -> str:
    return (
        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(sorted(ids))}. Each `tool_use` block must have a corresponding `tool_result` "
        "block in the next message."
    )
