"""Removing a deleted source's vectors: the finalizer's one external side effect."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

# (collection, source) -> number of chunks deleted. Tests inject a fake.
SourceDeleter = Callable[[str, str], Awaitable[int]]


async def delete_source_vectors(collection: str, source: str) -> int:
    """Through the knowledge library's store factory (pgvector or Weaviate, by settings)."""
    from cienty_knowledge.settings import KnowledgeSettings

    factory: Any = importlib.import_module("cienty_knowledge.store.factory")
    store: Any = factory.open_store(KnowledgeSettings())
    if inspect.isawaitable(store):
        store = await store
    try:
        deleted: int = await store.delete_source(collection, source)
        return deleted
    finally:
        await store.close()
