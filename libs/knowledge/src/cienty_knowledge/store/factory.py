"""Open the configured store: `open_store(settings)`, awaited or used as `async with`."""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any

from cienty_knowledge.settings import KnowledgeSettings
from cienty_knowledge.store.base import VectorStore
from cienty_knowledge.store.errors import StoreUnavailable, UnknownBackend

BACKENDS = ("pgvector", "weaviate")


async def _open(settings: KnowledgeSettings) -> VectorStore:
    backend: str = settings.vector_backend
    if backend == "pgvector":
        from cienty_knowledge.store.pgvector import PgVectorStore

        store = PgVectorStore.from_url(settings.database_url)
        try:
            await store.ping()
        except StoreUnavailable:
            await store.close()
            raise
        return store
    if backend == "weaviate":
        if settings.weaviate_url is None:
            raise UnknownBackend("CIENTY_VECTOR_BACKEND=weaviate needs CIENTY_WEAVIATE_URL")
        from cienty_knowledge.store.weaviate import WeaviateStore

        key = settings.weaviate_api_key
        return await WeaviateStore.connect(
            str(settings.weaviate_url),
            api_key=key.get_secret_value() if key is not None else None,
            grpc_port=settings.weaviate_grpc_port,
        )
    raise UnknownBackend(
        f"unknown vector backend {backend!r}: CIENTY_VECTOR_BACKEND must be one of "
        + ", ".join(BACKENDS)
    )


class _OpenStore:
    """Awaitable (`store = await open_store(s)`) and an async context manager that closes."""

    def __init__(self, settings: KnowledgeSettings) -> None:
        self._settings = settings
        self._store: VectorStore | None = None

    def __await__(self) -> Generator[Any, None, VectorStore]:
        return _open(self._settings).__await__()

    async def __aenter__(self) -> VectorStore:
        self._store = await _open(self._settings)
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None


def open_store(settings: KnowledgeSettings) -> _OpenStore:
    """The store `settings.vector_backend` names, connected and checked.

    Raises `UnknownBackend` for a backend this build does not know and `StoreUnavailable`
    when the store cannot be reached (the CLI prints either and exits 1)."""
    return _OpenStore(settings)
