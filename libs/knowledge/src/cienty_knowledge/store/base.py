"""The interface every vector store implements; tests/knowledge/contract runs against each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cienty_knowledge.types import EmbeddedChunk, SearchHit, SearchMode


class VectorStore(Protocol):
    async def ensure_collection(self, collection: str, dimensions: int) -> None:
        """Create the collection (idempotent); a different dimension for an existing one is an
        error (ValueError), never a silent mix of vector spaces."""
        ...

    async def upsert(self, collection: str, chunks: Sequence[EmbeddedChunk]) -> None:
        """Insert or replace by chunk id."""
        ...

    async def chunk_ids(
        self, collection: str, source: str, document: str | None = None
    ) -> set[str]:
        """Ids stored for a source (or one of its documents): what a re-ingest diffs against."""
        ...

    async def delete(self, collection: str, ids: Iterable[str]) -> int:
        """Delete chunks by id; returns how many were deleted."""
        ...

    async def delete_source(self, collection: str, source: str) -> int:
        """Delete every chunk of a source (the operator's finalizer)."""
        ...

    async def count(self, collection: str, source: str | None = None) -> int: ...

    async def search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        *,
        k: int = 5,
        mode: SearchMode = "hybrid",
        source: str | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        """Best k chunks, best first. `hybrid` fuses keyword (BM25 / Portuguese full text) and
        vector rankings; scores are comparable within one result list only."""
        ...

    async def close(self) -> None: ...
