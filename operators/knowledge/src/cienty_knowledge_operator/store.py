"""Removing a deleted source's vectors: the finalizer's one external side effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# (collection, source) -> number of chunks deleted. Tests inject a fake.
SourceDeleter = Callable[[str, str], Awaitable[int]]


async def delete_source_vectors(collection: str, source: str) -> int:
    """Through the knowledge library's store factory (pgvector or Weaviate, by settings);
    StoreUnavailable and connection errors propagate, and the finalizer retries."""
    from cienty_knowledge.settings import KnowledgeSettings
    from cienty_knowledge.store.factory import open_store

    async with open_store(KnowledgeSettings()) as store:
        return await store.delete_source(collection, source)
