"""The self-hosted model through its OpenAI-compatible API (Ray Serve LLM / vLLM), `openai` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from cienty_llm.errors import FailureReason, ProviderFailure
from cienty_llm.providers.base import Chunk, ProviderAnswer, retry_after_seconds
from cienty_llm.settings import ProviderPrices
from cienty_llm.tool_calls import RawToolCall
from cienty_llm.types import ChatRequest, FinishReason, ForcedTool, Message, Usage

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        content = f"ERROR: {message.content}" if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def request_body(request: ChatRequest, model: str, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(message) for message in request.messages],
        "max_tokens": max_tokens,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in request.tools
        ]
        choice = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if isinstance(choice, ForcedTool)
            else choice
        )
    if request.response_schema is not None:
        # vLLM's structured outputs (the old `guided_json` field was removed in vLLM 0.12).
        body["extra_body"] = {"structured_outputs": {"json": dict(request.response_schema)}}
    return body


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAICompatibleProvider:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key: str,
        prices: ProviderPrices,
        connect_timeout: float,
        total_timeout: float,
    ) -> None:
        self.name = name
        self.model = model
        self.prices = prices
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,  # the LLM client owns retries and failover
            timeout=openai.Timeout(total_timeout, connect=connect_timeout),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, request: ChatRequest, max_tokens: int
    ) -> AsyncGenerator[Chunk | ProviderAnswer, None]:
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        finish: FinishReason | None = None
        usage = Usage()
        model = self.model
        receiving = False  # once True, a broken connection means a broken stream
        try:
            response = await self._client.chat.completions.create(
                **request_body(request, self.model, max_tokens),
                stream=True,
                stream_options={"include_usage": True},
            )
            receiving = True
            async with response:
                async for chunk in response:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        delta = choice.delta
                        for call in delta.tool_calls or ():
                            partial = calls.setdefault(call.index, _PartialCall())
                            partial.id = call.id or partial.id
                            if call.function is not None:
                                partial.name = call.function.name or partial.name
                                partial.arguments.append(call.function.arguments or "")
                            yield Chunk("")
                        if delta.content:
                            text.append(delta.content)
                            yield Chunk(delta.content)
                        if choice.finish_reason is not None:
                            finish = _FINISH.get(choice.finish_reason, "stop")
        except openai.APIError as error:
            raise self._failure(error, receiving) from error
        except httpx2.TransportError as error:  # the connection broke while streaming
            raise ProviderFailure(self.name, FailureReason.STREAM_BROKEN, repr(error)) from error
        if finish is None:
            raise ProviderFailure(self.name, FailureReason.STREAM_BROKEN, "stream ended early")
        raw_calls = tuple(
            RawToolCall(call.id or f"call_{index}", call.name, "".join(call.arguments))
            for index, call in sorted(calls.items())
        )
        yield ProviderAnswer("".join(text), raw_calls, finish, usage, model)

    def _failure(self, error: openai.APIError, receiving: bool) -> ProviderFailure:
        if isinstance(error, openai.APITimeoutError):
            return ProviderFailure(self.name, FailureReason.TIMEOUT, "request timed out")
        if isinstance(error, openai.APIConnectionError) and receiving:
            detail = str(error.__cause__ or error)
            return ProviderFailure(self.name, FailureReason.STREAM_BROKEN, detail)
        if isinstance(error, openai.APIConnectionError):
            return ProviderFailure(self.name, FailureReason.CONNECT, str(error.__cause__ or error))
        if not isinstance(error, openai.APIStatusError):
            return ProviderFailure(self.name, FailureReason.STREAM_BROKEN, str(error))
        status = error.status_code
        retry_after = retry_after_seconds(error.response.headers)
        reason = _reason_for_status(status)
        return ProviderFailure(
            self.name, reason, error.message, status=status, retry_after=retry_after
        )


def _reason_for_status(status: int) -> FailureReason:
    if status == 429:
        return FailureReason.RATE_LIMITED
    if status in (408, 504):
        return FailureReason.TIMEOUT
    if status in (401, 403):
        return FailureReason.AUTH
    if status == 503:  # Ray Serve: no replica ready (scaling from zero, restarting)
        return FailureReason.OVERLOADED
    if status >= 500:
        return FailureReason.SERVER_ERROR
    return FailureReason.BAD_REQUEST
