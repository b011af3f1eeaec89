"""The library call the agent uses: `KnowledgeSearch(store, embedder, collection).search(q)`."""

from __future__ import annotations

from typing import Literal

from cienty_knowledge.embeddings.base import Embedder
from cienty_knowledge.store.base import VectorStore
from cienty_knowledge.types import SearchHit, SearchMode

# "keyword" (full text / BM25 only) is understood by both stores; it is for evaluation and
# debugging, the agent uses "hybrid".
QueryMode = SearchMode | Literal["keyword"]
MAX_QUERY_CHARS = 2000


class KnowledgeSearch:
    """Embeds the query with the collection's embedder and asks the store.

    The embedder must be the one the collection was ingested with (same model, same
    dimensions): the store refuses a vector of another size."""

    def __init__(self, store: VectorStore, embedder: Embedder, collection: str) -> None:
        self.store = store
        self.embedder = embedder
        self.collection = collection

    async def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: QueryMode = "hybrid",
        source: str | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        """Best k chunks for `query`, best first, with scores in [0, 1] (see the stores)."""
        query = " ".join(query.split())[:MAX_QUERY_CHARS]
        if not query:
            return []
        if mode == "keyword":
            vector: list[float] = []
        else:
            [vector] = await self.embedder.embed([query])
        return await self.store.search(
            self.collection,
            query,
            vector,
            k=k,
            mode=mode,
            source=source,
            language=language,
        )
