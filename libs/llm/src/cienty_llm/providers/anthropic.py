"""Claude through the Anthropic Messages API, `anthropic` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2

from cienty_llm.errors import FailureReason, ProviderFailure
from cienty_llm.providers.base import Chunk, ProviderAnswer, retry_after_seconds
from cienty_llm.settings import ProviderPrices
from cienty_llm.tool_calls import RawToolCall
from cienty_llm.types import ChatRequest, FinishReason, ForcedTool, Message, Usage

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# A structured answer is asked for as a forced call of this tool (Claude has no JSON mode).
STRUCTURED_OUTPUT_TOOL = "structured_output"
SPEND_LIMIT_CODE = "enforced_spend_limit_reached"
# Anthropic requires the conversation to open with the user.
_OPENING = "(conversation start)"


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
                "is_error": message.is_error,
            }
        ]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        for call in message.tool_calls
    )
    return blocks


def _messages(request: ChatRequest) -> list[dict[str, Any]]:
    """Tool results become user turns; consecutive turns of one role merge (roles alternate)."""
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": _OPENING}]})
    return turns


def request_body(
    request: ChatRequest, model: str, max_tokens: int, *, disable_parallel_tool_use: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": _messages(request),
    }
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    tools = [
        {"name": tool.name, "description": tool.description, "input_schema": dict(tool.parameters)}
        for tool in request.tools
    ]
    choice: dict[str, Any] | None = None
    if request.response_schema is not None:
        tools.append(
            {
                "name": STRUCTURED_OUTPUT_TOOL,
                "description": "Give the answer as this JSON document.",
                "input_schema": dict(request.response_schema),
            }
        )
        choice = {"type": "tool", "name": STRUCTURED_OUTPUT_TOOL}
    elif isinstance(request.tool_choice, ForcedTool):
        choice = {"type": "tool", "name": request.tool_choice.name}
    elif request.tools:
        choice = {"type": {"auto": "auto", "required": "any", "none": "none"}[request.tool_choice]}
    if choice is not None and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = disable_parallel_tool_use
    if tools:
        body["tools"] = tools
        body["tool_choice"] = choice
    return body


class AnthropicProvider:
    def __init__(
        self,
        *,
        name: str,
        model: str,
        api_key: str,
        base_url: str | None,
        prices: ProviderPrices,
        connect_timeout: float,
        total_timeout: float,
        disable_parallel_tool_use: bool = True,
    ) -> None:
        self.name = name
        self.model = model
        self.prices = prices
        self._disable_parallel_tool_use = disable_parallel_tool_use
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,  # the LLM client owns retries and failover
            timeout=anthropic.Timeout(total_timeout, connect=connect_timeout),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, request: ChatRequest, max_tokens: int
    ) -> AsyncGenerator[Chunk | ProviderAnswer, None]:
        body = request_body(
            request,
            self.model,
            max_tokens,
            disable_parallel_tool_use=self._disable_parallel_tool_use,
        )
        text: list[str] = []
        calls: dict[int, tuple[str, str, list[str]]] = {}
        stop_reason: str | None = None
        input_tokens = output_tokens = 0
        model = self.model
        finished = False
        receiving = False  # once True, a broken connection means a broken stream
        try:
            response = await self._client.messages.create(**body, stream=True)
            receiving = True
            async with response:
                async for event in response:
                    if event.type == "message_start":
                        model = event.message.model or model
                        input_tokens = event.message.usage.input_tokens
                        output_tokens = event.message.usage.output_tokens
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            calls[event.index] = (block.id, block.name, [])
                            yield Chunk("")
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            text.append(delta.text)
                            yield Chunk(delta.text)
                        elif delta.type == "input_json_delta" and event.index in calls:
                            calls[event.index][2].append(delta.partial_json)
                            yield Chunk("")
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        output_tokens = event.usage.output_tokens  # cumulative
                        if event.usage.input_tokens is not None:
                            input_tokens = event.usage.input_tokens
                    elif event.type == "message_stop":
                        finished = True
        except anthropic.APIError as error:
            raise self._failure(error, receiving) from error
        except httpx2.TransportError as error:  # the connection broke while streaming
            raise ProviderFailure(self.name, FailureReason.STREAM_BROKEN, repr(error)) from error
        if not finished:
            raise ProviderFailure(self.name, FailureReason.STREAM_BROKEN, "stream ended early")
        raw_calls = [
            RawToolCall(call_id, name, "".join(pieces) or "{}")
            for _, (call_id, name, pieces) in sorted(calls.items())
        ]
        finish = _FINISH.get(stop_reason or "end_turn", "stop")
        answer_text = "".join(text)
        if request.response_schema is not None:
            structured = [call for call in raw_calls if call.name == STRUCTURED_OUTPUT_TOOL]
            if structured:
                answer_text = json.dumps(json.loads(structured[0].arguments))
                raw_calls, finish = [], "stop"
        yield ProviderAnswer(
            answer_text, tuple(raw_calls), finish, Usage(input_tokens, output_tokens), model
        )

    def _failure(self, error: anthropic.APIError, receiving: bool) -> ProviderFailure:
        if isinstance(error, anthropic.APITimeoutError):
            return ProviderFailure(self.name, FailureReason.TIMEOUT, "request timed out")
        if isinstance(error, anthropic.APIConnectionError) and receiving:
            detail = str(error.__cause__ or error)
            return ProviderFailure(self.name, FailureReason.STREAM_BROKEN, detail)
        if isinstance(error, anthropic.APIConnectionError):
            return ProviderFailure(self.name, FailureReason.CONNECT, str(error.__cause__ or error))
        if not isinstance(error, anthropic.APIStatusError):
            return ProviderFailure(self.name, FailureReason.STREAM_BROKEN, str(error))
        status = error.status_code
        reason = _reason(status, error.type, error.error_code)
        detail = error.api_message or str(error)
        retry_after = retry_after_seconds(error.response.headers)
        return ProviderFailure(self.name, reason, detail, status=status, retry_after=retry_after)


def _reason(status: int, error_type: str | None, error_code: str | None) -> FailureReason:
    # An `error` event inside a 200 stream carries only its type: classify by type first.
    if error_type == "overloaded_error" or status == 529:
        return FailureReason.OVERLOADED
    if error_code == SPEND_LIMIT_CODE or error_type == "billing_error" or status == 402:
        return FailureReason.SPEND_LIMIT
    if error_type == "rate_limit_error" or status == 429:
        return FailureReason.RATE_LIMITED
    if error_type in ("authentication_error", "permission_error") or status in (401, 403):
        return FailureReason.AUTH
    if error_type == "timeout_error" or status in (408, 504):
        return FailureReason.TIMEOUT
    if error_type == "api_error" or status >= 500:
        return FailureReason.SERVER_ERROR
    if status < 300:  # an unknown error event in a stream
        return FailureReason.STREAM_BROKEN
    return FailureReason.BAD_REQUEST
