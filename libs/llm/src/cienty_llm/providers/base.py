"""What the client needs from a provider, and the pieces shared by the providers."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Protocol

from cienty_llm.settings import ProviderPrices
from cienty_llm.tool_calls import RawToolCall
from cienty_llm.types import ChatRequest, FinishReason, Usage


@dataclass(frozen=True)
class Chunk:
    """Progress from the model: some text, or "" when only tool-call arguments advanced."""

    text: str


@dataclass(frozen=True)
class ProviderAnswer:
    text: str
    tool_calls: tuple[RawToolCall, ...]
    finish_reason: FinishReason
    usage: Usage
    model: str


class Provider(Protocol):
    name: str
    model: str
    prices: ProviderPrices

    def stream(
        self, request: ChatRequest, max_tokens: int
    ) -> AsyncGenerator[Chunk | ProviderAnswer, None]:
        """Chunks as they come, then one ProviderAnswer; failures raise ProviderFailure."""
        ...

    async def aclose(self) -> None: ...


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
