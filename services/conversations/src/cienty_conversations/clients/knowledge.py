"""The knowledge base (cienty_knowledge hybrid search) as the `Knowledge` port."""

from __future__ import annotations

from cienty_conversations.ports import KnowledgeHit
from cienty_knowledge.search import KnowledgeSearch


class KnowledgeBase:
    def __init__(self, search: KnowledgeSearch) -> None:
        self._search = search

    async def search(self, query: str, *, k: int) -> list[KnowledgeHit]:
        hits = await self._search.search(query, k=k, mode="hybrid")
        return [
            KnowledgeHit(
                title=hit.chunk.title,
                heading=hit.chunk.heading,
                text=hit.chunk.text,
                source=hit.chunk.source,
                document=hit.chunk.document,
                score=hit.score,
            )
            for hit in hits
        ]
