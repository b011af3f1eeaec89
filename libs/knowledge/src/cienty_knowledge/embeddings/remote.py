"""An OpenAI-compatible `/embeddings` endpoint (the Ray Serve embeddings application).

The model's name and dimensions are learnt from the endpoint's first answer (`discover()`,
which the pipeline calls before it needs `dimensions`). Requests go in batches; connection
errors, timeouts, 429 and 5xx answers are retried a bounded number of times with exponential
backoff (the SDK's own retries are off, so there is one retry loop). Vectors are L2-normalised
here whatever the server returns.

Token counts use the packaged MiniLM WordPiece tokenizer as a stand-in for the remote model's:
on Portuguese it cuts words into more pieces than the SentencePiece/BPE tokenizers of
multilingual models (bge-m3, e5), so chunks stay under the real limit.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence

import openai
import structlog

from cienty_knowledge.chunking import TokenCounter
from cienty_knowledge.embeddings.tokens import TokenizerCounter

_PROBE_TEXT = "dimension probe"


class EmbeddingError(Exception):
    """The endpoint did not give usable vectors (after the retries)."""


class RemoteEmbedder:
    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str = "not-needed",
        batch_size: int = 32,
        max_tokens: int = 512,
        timeout_s: float = 60.0,
        attempts: int = 4,
        backoff_s: float = 0.5,
        counter: TokenCounter | None = None,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            max_retries=0,
            timeout=timeout_s,
        )
        self._batch_size = batch_size
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._counter = counter or TokenizerCounter()
        self._log = structlog.get_logger(__name__)
        self.base_url = base_url
        self.model = model  # replaced by the name the server answers with
        self.dimensions = 0  # known after discover() or the first embed()
        self.max_tokens = max_tokens

    async def discover(self) -> None:
        """Learn the model's name and dimensions from one small request."""
        if self.dimensions == 0:
            await self.embed([_PROBE_TEXT])

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(list(texts[start : start + self._batch_size])))
        return vectors

    def count_tokens(self, text: str) -> int:
        return self._counter.count_tokens(text)

    async def close(self) -> None:
        await self._client.close()

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.embeddings.create(
                    input=batch, model=self.model, encoding_format="float"
                )
                break
            except (openai.APIConnectionError, openai.APIStatusError) as error:
                status = getattr(error, "status_code", None)
                retryable = status is None or status == 429 or status >= 500
                if not retryable or attempt == self._attempts:
                    raise EmbeddingError(
                        f"embedding endpoint {self.base_url} failed: {_describe(error)}"
                    ) from error
                delay = self._backoff_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
                self._log.warning(
                    "embedding_retry", attempt=attempt, error=_describe(error), delay_s=delay
                )
                await asyncio.sleep(delay)
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(f"asked for {len(batch)} vectors, got {len(data)}")
        vectors = [_normalised(item.embedding) for item in data]
        dimensions = {len(vector) for vector in vectors}
        if len(dimensions) != 1 or (self.dimensions and dimensions != {self.dimensions}):
            raise EmbeddingError(f"inconsistent vector dimensions: {sorted(dimensions)}")
        if not self.dimensions:
            self.dimensions = dimensions.pop()
            self.model = response.model or self.model
            self._log.info("embedding_model", model=self.model, dimensions=self.dimensions)
        return vectors


def _normalised(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(value * value for value in vector))
    if norm == 0 or not math.isfinite(norm):
        raise EmbeddingError("the endpoint returned a zero or non-finite vector")
    return [value / norm for value in vector]


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    return f"HTTP {status}: {error}" if status is not None else f"{type(error).__name__}: {error}"
