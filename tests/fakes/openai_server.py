"""A stand-in for vLLM's OpenAI-compatible server (as served behind Ray Serve).

The SDK's base URL is `server.url + "/v1"`. Error bodies follow vLLM's `ErrorResponse`:
`{"error": {"message", "type", "param", "code"}}` with `type` a class-like name
("BadRequestError", "NotFoundError", ...) and `code` the HTTP status as an int.
"""

from __future__ import annotations

import secrets
import time
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

_ROLES = {"system", "user", "assistant", "tool"}
_TOOL_CHOICES = {"none", "auto", "required"}


class FakeOpenAIServer(FakeLLMServer):
    scripted_path = "/v1/chat/completions"

    def __init__(self, model: str = "llama-3.1-8b-instruct", default: Step = DEFAULT_REPLY) -> None:
        super().__init__(default)
        self.model = model

    # -- common failures ------------------------------------------------------------------

    @staticmethod
    def unavailable(message: str = "Service Unavailable", retry_after: float | None = None) -> Fail:
        """503, e.g. Ray Serve with no replica ready (scale from zero, upgrade)."""
        return Fail(503, "ServiceUnavailableError", message, headers=_retry_after(retry_after))

    @staticmethod
    def internal_error(message: str = "Internal Server Error") -> Fail:
        return Fail(500, "InternalServerError", message)

    @staticmethod
    def rate_limited(retry_after: float = 1, message: str = "Too Many Requests") -> Fail:
        """429 from a gateway in front of the server; vLLM itself does not rate-limit."""
        return Fail(429, "RateLimitError", message, headers=_retry_after(retry_after))

    # -- wire format ----------------------------------------------------------------------

    def error_response(self, fail: Fail) -> Response:
        if fail.raw_body is not None:
            body = fail.raw_body.encode()
            return Response(fail.status, body, "text/plain; charset=utf-8", fail.headers)
        error: dict[str, Any] = {"message": fail.message, "type": fail.error_type, "param": None}
        error["code"] = fail.status
        error.update(fail.details or {})
        return Response.json(fail.status, {"error": error}, fail.headers)

    async def other_route(self, request: RecordedRequest) -> Response:
        if request.method == "GET" and request.path == "/v1/models":
            card = {
                "id": self.model,
                "object": "model",
                "created": int(time.time()),
                "owned_by": "vllm",
                "root": self.model,
                "parent": None,
            }
            return Response.json(200, {"object": "list", "data": [card]}, {})
        if request.path == "/health":
            return Response(200, b"", "application/json", {})
        return Response.json(404, {"detail": "Not Found"}, {})

    def validate(self, request: RecordedRequest) -> Fail | None:
        problem = _check_request(request.body, self.model)
        if problem is None:
            return None
        if isinstance(problem, Fail):
            return problem
        return Fail(400, "BadRequestError", problem)

    def completion(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        usage = estimate_usage(reply, request.raw_body)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if reply.text or not reply.tool_calls else None,
            "tool_calls": [
                {
                    "id": _call_id(call, i),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for i, call in enumerate(reply.tool_calls)
            ],
        }
        return {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _finish_reason(reply),
                }
            ],
            "usage": _usage(usage.input_tokens, usage.output_tokens),
        }

    def stream_events(self, reply: Reply, request: RecordedRequest) -> list[bytes]:
        body = request.body if isinstance(request.body, dict) else {}
        options = body.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        completion_id, created = _completion_id(), int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            payload: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if include_usage:
                payload["usage"] = None
            return sse(payload)

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in split_words(reply.text)]
        for i, call in enumerate(reply.tool_calls):
            head = {"index": i, "id": _call_id(call, i), "type": "function"}
            head["function"] = {"name": call.name, "arguments": ""}
            events.append(chunk({"tool_calls": [head]}))
            for piece in split_in_three(call.arguments_json()):
                events.append(
                    chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                )
        events.append(chunk({}, _finish_reason(reply)))
        if include_usage:
            usage = estimate_usage(reply, request.raw_body)
            final = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [],
                "usage": _usage(usage.input_tokens, usage.output_tokens),
            }
            events.append(sse(final))
        events.append(sse("[DONE]"))
        return events

    def stream_error_events(self, step: ErrorMidStream) -> list[bytes]:
        # vLLM's create_streaming_error_response, then the usual terminator.
        error = {"message": step.message, "type": step.error_type, "param": None, "code": 500}
        return [sse({"error": error}), sse("[DONE]")]

    def mid_stream_error_as_http(self, step: ErrorMidStream) -> Fail:
        return Fail(500, step.error_type, step.message)


def _retry_after(seconds: float | None) -> dict[str, str]:
    return {} if seconds is None else {"retry-after": f"{seconds:g}"}


def _completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(16)}"


def _call_id(call: ToolCall, index: int) -> str:
    return call.id or f"chatcmpl-tool-{secrets.token_hex(8)}{index}"


def _finish_reason(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": None,
    }


def _check_request(body: object, served_model: str) -> str | Fail | None:
    """The first problem vLLM (or, for tool-call ids, OpenAI) would reject, if any."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    model = body.get("model")
    if model is not None and model != served_model:
        return Fail(
            404, "NotFoundError", f"The model `{model}` does not exist.", details={"param": "model"}
        )
    if body.get("stream_options") is not None and body.get("stream") is not True:
        return "Stream options can only be defined when `stream=True`."
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            return f"{name} must be at least 1, got {value}."
    tool_names, problem = _check_tools(body.get("tools"))
    if problem is not None:
        return problem
    problem = _check_tool_choice(body.get("tool_choice"), tool_names)
    if problem is not None:
        return problem
    return _check_messages(body.get("messages"))


def _check_tools(tools: object) -> tuple[set[str] | None, str | None]:
    if tools is None:
        return None, None
    if not isinstance(tools, list):
        return None, "tools must be a list."
    names: set[str] = set()
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
        ):
            return None, f'tools[{i}] must be {{"type": "function", "function": {{...}}}}.'
        if not isinstance(function.get("name"), str) or not function["name"]:
            return None, f"tools[{i}].function.name is required."
        if "parameters" in function and not isinstance(function["parameters"], dict):
            return None, f"tools[{i}].function.parameters must be a JSON Schema object."
        names.add(function["name"])
    return names, None


def _check_tool_choice(choice: object, tool_names: set[str] | None) -> str | None:
    if choice is None:
        return None
    if tool_names is None and choice != "none":
        return "When using `tool_choice`, `tools` must be set."
    if isinstance(choice, str):
        return None if choice in _TOOL_CHOICES else f"Invalid tool_choice {choice!r}."
    function = choice.get("function") if isinstance(choice, dict) else None
    if (
        not isinstance(choice, dict)
        or choice.get("type") != "function"
        or not isinstance(function, dict)
    ):
        return 'tool_choice must be "none", "auto", "required" or {"type": "function", ...}.'
    if function.get("name") not in (tool_names or set()):
        return f"Tool '{function.get('name')}' has not been passed in `tools`."
    return None


def _check_messages(messages: object) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list."
    call_ids: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] must be an object."
        role = message.get("role")
        if role not in _ROLES:
            return f"messages[{i}].role must be one of {sorted(_ROLES)}, got {role!r}."
        if role == "assistant":
            problem = _check_assistant(i, message, call_ids)
        elif role == "tool":
            problem = _check_tool_message(i, message, call_ids)
        elif not isinstance(message.get("content"), str | list):
            problem = f"messages[{i}].content is required for role {role!r}."
        else:
            problem = None
        if problem is not None:
            return problem
    return None


def _check_assistant(i: int, message: dict[str, Any], call_ids: set[str]) -> str | None:
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        return f"messages[{i}].tool_calls must be a list."
    if message.get("content") is None and not calls:
        return f"messages[{i}]: an assistant message needs content or tool_calls."
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(function, dict)
        ):
            return f"messages[{i}].tool_calls[{j}] needs an id and a function."
        if call.get("type", "function") != "function" or not isinstance(function.get("name"), str):
            return f"messages[{i}].tool_calls[{j}] must be a function call with a name."
        if not isinstance(function.get("arguments"), str):
            return f"messages[{i}].tool_calls[{j}].function.arguments must be a JSON string."
        call_ids.add(call["id"])
    return None


def _check_tool_message(i: int, message: dict[str, Any], call_ids: set[str]) -> str | None:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        return f"messages[{i}]: a tool message requires tool_call_id."
    if call_id not in call_ids:
        return f"messages[{i}]: tool_call_id {call_id!r} matches no earlier assistant tool call."
    if not isinstance(message.get("content"), str | list):
        return f"messages[{i}].content is required for role 'tool'."
    return None
