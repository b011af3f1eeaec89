"""pgvector-only behaviour the contract suite cannot ask of every backend: the common-word cut
of the keyword side (which reads the planner's statistics), and concurrent bootstrap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from cienty_knowledge.store.pgvector import MAX_KEYWORD_ROWS, PgVectorStore
from tests.knowledge.contract.test_store_contract import DIMS, at_angle, make, texts


@pytest.fixture
async def pgvector(knowledge_database_url: str) -> AsyncIterator[PgVectorStore]:
    store = PgVectorStore.from_url(knowledge_database_url, pool_size=2)
    yield store
    await store.close()


def _collection() -> str:
    return f"pg_{uuid.uuid4().hex[:12]}"


async def test_a_common_word_does_not_drown_the_rare_one(pgvector: PgVectorStore) -> None:
    collection = _collection()
    await pgvector.ensure_collection(collection, DIMS)
    crowd = [
        make(f"O pedido número {n} foi separado.", at_angle(n % 90), document=f"d{n}.md")
        for n in range(MAX_KEYWORD_ROWS + 500)
    ]
    rare = make("Pedido com bonificação do laboratório.", at_angle(45), document="rare.md")
    await pgvector.upsert(collection, [*crowd, rare])
    await pgvector.analyze(collection)  # the cut reads these statistics
    hits = await pgvector.search(collection, "pedido bonificação", at_angle(0), k=3, mode="keyword")
    assert texts(hits)[0] == "Pedido com bonificação do laboratório."
    # A query of one common word has no keyword side left: hybrid still answers by vector.
    assert await pgvector.search(collection, "pedido", at_angle(0), k=3, mode="keyword") == []
    hybrid = await pgvector.search(collection, "pedido", at_angle(0), k=3, mode="hybrid")
    assert len(hybrid) == 3


async def test_concurrent_workers_create_one_collection(knowledge_database_url: str) -> None:
    collection = _collection()
    stores = [PgVectorStore.from_url(knowledge_database_url, pool_size=1) for _ in range(3)]
    try:
        await asyncio.gather(*(store.ensure_collection(collection, DIMS) for store in stores))
        await stores[0].upsert(collection, [make("Entrega em 24 horas.", at_angle(0))])
        assert await stores[1].count(collection) == 1
        with pytest.raises(ValueError, match="dimension"):
            await stores[2].ensure_collection(collection, DIMS + 1)
    finally:
        for store in stores:
            await store.close()
