"""An in-memory VectorStore that keeps the protocol's promises (tests and the benchmark)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cienty_knowledge.types import EmbeddedChunk, SearchHit, SearchMode

_WORD = re.compile(r"\w+")


@dataclass
class MemoryStore:
    collections: dict[str, dict[str, EmbeddedChunk]] = field(default_factory=dict)
    dimensions: dict[str, int] = field(default_factory=dict)
    upserted: list[str] = field(default_factory=list)  # every id ever upserted, in order
    closed: bool = False

    def _collection(self, collection: str) -> dict[str, EmbeddedChunk]:
        if collection not in self.collections:
            raise KeyError(f"no collection {collection!r}")
        return self.collections[collection]

    async def ensure_collection(self, collection: str, dimensions: int) -> None:
        known = self.dimensions.get(collection)
        if known is not None and known != dimensions:
            raise ValueError(f"{collection} holds {known}-dimensional vectors, not {dimensions}")
        self.dimensions[collection] = dimensions
        self.collections.setdefault(collection, {})

    async def upsert(self, collection: str, chunks: Sequence[EmbeddedChunk]) -> None:
        stored = self._collection(collection)
        for item in chunks:
            if len(item.vector) != self.dimensions[collection]:
                raise ValueError("vector dimension does not match the collection")
            stored[item.chunk.id] = item
            self.upserted.append(item.chunk.id)

    async def chunk_ids(
        self, collection: str, source: str, document: str | None = None
    ) -> set[str]:
        return {
            chunk_id
            for chunk_id, item in self.collections.get(collection, {}).items()
            if item.chunk.source == source and (document is None or item.chunk.document == document)
        }

    async def delete(self, collection: str, ids: Iterable[str]) -> int:
        stored = self.collections.get(collection, {})
        return sum(stored.pop(chunk_id, None) is not None for chunk_id in set(ids))

    async def delete_source(self, collection: str, source: str) -> int:
        return await self.delete(collection, await self.chunk_ids(collection, source))

    async def count(self, collection: str, source: str | None = None) -> int:
        return sum(
            source is None or item.chunk.source == source
            for item in self.collections.get(collection, {}).values()
        )

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
        words = set(_WORD.findall(query.lower()))
        hits: list[SearchHit] = []
        for item in self.collections.get(collection, {}).values():
            chunk = item.chunk
            if (source and chunk.source != source) or (language and chunk.language != language):
                continue
            score = sum(a * b for a, b in zip(vector, item.vector, strict=True))
            if mode == "hybrid" and words:
                found = set(_WORD.findall(chunk.text.lower()))
                score += len(words & found) / len(words)
            hits.append(SearchHit(chunk, score if math.isfinite(score) else 0.0))
        hits.sort(key=lambda hit: (-hit.score, hit.chunk.id))
        return hits[:k]

    async def close(self) -> None:
        self.closed = True

    # Test helpers (not part of the protocol).
    def documents_of(self, collection: str, source: str) -> set[str]:
        return {
            item.chunk.document
            for item in self.collections.get(collection, {}).values()
            if item.chunk.source == source
        }


@dataclass
class ListingMemoryStore(MemoryStore):
    """The same, with the optional `documents()` capability the pipeline uses when present."""

    async def documents(self, collection: str, source: str) -> set[str]:
        return self.documents_of(collection, source)
