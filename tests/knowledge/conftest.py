"""Fixtures of the knowledge base tests. Shared file: add fixtures, do not rewrite others'."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cienty_knowledge.embeddings.local import LocalEmbedder
from cienty_knowledge.embeddings.tokens import TokenizerCounter


@pytest.fixture(scope="session")
def minilm_tokens() -> TokenizerCounter:
    return TokenizerCounter()


class CountingEmbedder:
    """Wraps an embedder and records every text it was asked to embed."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.max_tokens = inner.max_tokens
        self.calls: list[list[str]] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return await self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def embedded(self) -> int:
        return sum(len(call) for call in self.calls)


@pytest.fixture
def counting_embedder(minilm: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(minilm)


# -- vector stores and search (added by the store engineer) ------------------------------------


@pytest.fixture(scope="session")
def knowledge_database_url(postgres: Any) -> str:
    """The knowledge base's own database on the session's embedded PostgreSQL."""
    url: str = postgres.database_url("cienty_knowledge_test")
    return url
