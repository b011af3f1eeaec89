"""Choose the embedder: the Ray Serve endpoint when one is configured, else MiniLM in-process."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cienty_knowledge.embeddings.base import Embedder
from cienty_knowledge.settings import KnowledgeSettings


@runtime_checkable
class _Discovers(Protocol):
    async def discover(self) -> None: ...


@runtime_checkable
class _Closes(Protocol):
    async def close(self) -> None: ...


def build_embedder(settings: KnowledgeSettings) -> Embedder:
    """Remote (`CIENTY_EMBEDDING_URL`, model `CIENTY_EMBEDDING_MODEL`) or the packaged MiniLM.

    A remote embedder knows its dimensions only after `prepare_embedder()`."""
    if settings.embedding_url is not None:
        from cienty_knowledge.embeddings.remote import RemoteEmbedder

        return RemoteEmbedder(
            str(settings.embedding_url),
            model=settings.embedding_model,
            batch_size=settings.embedding_batch_size,
        )
    from cienty_knowledge.embeddings.local import LocalEmbedder

    return LocalEmbedder(batch_size=settings.embedding_batch_size)


async def prepare_embedder(embedder: Embedder) -> None:
    """Make `embedder.model` and `embedder.dimensions` final (a remote one asks its server)."""
    if isinstance(embedder, _Discovers):
        await embedder.discover()


async def close_embedder(embedder: Embedder) -> None:
    if isinstance(embedder, _Closes):
        await embedder.close()
