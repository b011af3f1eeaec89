"""What every VectorStore must do; runs against pgvector always and Weaviate when configured."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from cienty_knowledge.store.base import VectorStore
from cienty_knowledge.types import Chunk, EmbeddedChunk, chunk_id, content_hash

DIMS = 8


def unit(*components: float) -> list[float]:
    """A normalised vector from its leading components (the rest are zero)."""
    values = [*components, *([0.0] * (DIMS - len(components)))]
    norm = math.sqrt(sum(x * x for x in values))
    return [x / norm for x in values]


def at_angle(degrees: float) -> list[float]:
    """Unit vector in the plane of the first two axes, `degrees` away from axis 0."""
    radians = math.radians(degrees)
    return unit(math.cos(radians), math.sin(radians))


def make(
    text: str,
    vector: Sequence[float],
    *,
    source: str = "manual",
    document: str = "doc.md",
    position: int = 0,
    language: str = "pt",
    heading: str = "Seção",
) -> EmbeddedChunk:
    digest = content_hash(text)
    chunk = Chunk(
        id=chunk_id(source, document, position, digest),
        source=source,
        document=document,
        title="Documento",
        heading=heading,
        text=text,
        position=position,
        content_hash=digest,
        language=language,
    )
    return EmbeddedChunk(chunk=chunk, vector=list(vector))


def texts(hits: Sequence[object]) -> list[str]:
    return [hit.chunk.text for hit in hits]  # type: ignore[attr-defined]


async def created(store: VectorStore, collection: str) -> VectorStore:
    await store.ensure_collection(collection, DIMS)
    return store


async def test_ensure_collection_is_idempotent(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, DIMS)
    await store.upsert(collection, [make("Prazo de entrega de 48 horas.", unit(1))])
    await store.ensure_collection(collection, DIMS)
    assert await store.count(collection) == 1


async def test_another_dimension_is_refused(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    with pytest.raises(ValueError, match="dimension"):
        await store.ensure_collection(collection, DIMS + 1)
    with pytest.raises(ValueError, match="dimension"):
        await store.upsert(collection, [make("vetor curto", [1.0, 0.0])])
    with pytest.raises(ValueError, match="dimension"):
        await store.search(collection, "vetor", [1.0, 0.0], mode="vector")


async def test_collections_never_mix(store: VectorStore, collection: str) -> None:
    other = collection + "_b"
    await created(store, collection)
    await created(store, other)
    await store.upsert(collection, [make("Só na primeira coleção.", unit(1))])
    assert await store.count(collection) == 1
    assert await store.count(other) == 0
    assert await store.search(other, "primeira", unit(1)) == []


async def test_upsert_replaces_by_id(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    original = make("Pedido mínimo de R$ 500,00.", unit(1))
    await store.upsert(
        collection, [original, make("Frete grátis acima de R$ 1.500.", unit(0, 1), position=1)]
    )
    replaced = EmbeddedChunk(
        chunk=Chunk(**{**original.chunk.__dict__, "text": "Pedido mínimo de R$ 600,00."}),
        vector=unit(1, 0.1),
    )
    await store.upsert(collection, [replaced])
    assert await store.count(collection) == 2
    hits = await store.search(collection, "pedido mínimo", unit(1), k=1, mode="vector")
    assert [(h.chunk.id, h.chunk.text) for h in hits] == [
        (original.chunk.id, "Pedido mínimo de R$ 600,00.")
    ]
    assert hits[0].chunk.position == 0
    assert hits[0].chunk.heading == "Seção"
    assert hits[0].chunk.title == "Documento"


async def test_chunk_ids_per_source_and_document(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    a1 = make("A um", unit(1), document="a.md")
    a2 = make("A dois", unit(1, 1), document="a.md", position=1)
    b1 = make("B um", unit(0, 1), document="b.md")
    other = make("Outra fonte", unit(1), source="outra")
    await store.upsert(collection, [a1, a2, b1, other])
    assert await store.chunk_ids(collection, "manual") == {a1.chunk.id, a2.chunk.id, b1.chunk.id}
    assert await store.chunk_ids(collection, "manual", "a.md") == {a1.chunk.id, a2.chunk.id}
    assert await store.chunk_ids(collection, "manual", "c.md") == set()
    assert await store.chunk_ids(collection, "nenhuma") == set()


async def test_delete_by_id(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    chunks = [make(f"Trecho {i}", unit(1, i), position=i) for i in range(4)]
    await store.upsert(collection, chunks)
    gone = [chunks[0].chunk.id, chunks[2].chunk.id]
    assert await store.delete(collection, gone) == 2
    assert await store.delete(collection, gone) == 0
    assert await store.delete(collection, []) == 0
    assert await store.chunk_ids(collection, "manual") == {chunks[1].chunk.id, chunks[3].chunk.id}


async def test_delete_source_and_count(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    await store.upsert(
        collection,
        [
            make("Da fonte um", unit(1), source="um"),
            make("Também da fonte um", unit(1, 1), source="um", position=1),
            make("Da fonte dois", unit(0, 1), source="dois"),
        ],
    )
    assert await store.count(collection) == 3
    assert await store.count(collection, "um") == 2
    assert await store.delete_source(collection, "um") == 2
    assert await store.delete_source(collection, "um") == 0
    assert await store.count(collection) == 1
    assert await store.count(collection, "dois") == 1
    assert await store.count(collection, "um") == 0


async def test_vector_search_orders_by_similarity(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    angles = [50, 10, 80, 0, 30]
    await store.upsert(
        collection, [make(f"ângulo {a}", at_angle(a), position=i) for i, a in enumerate(angles)]
    )
    hits = await store.search(collection, "irrelevante", at_angle(0), k=5, mode="vector")
    assert texts(hits) == ["ângulo 0", "ângulo 10", "ângulo 30", "ângulo 50", "ângulo 80"]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == pytest.approx(1.0, abs=1e-4)


async def test_hybrid_finds_exact_keywords_that_vectors_miss(
    store: VectorStore, collection: str
) -> None:
    await created(store, collection)
    near = [
        make(f"Informações gerais de entrega número {i}.", at_angle(i * 5), position=i)
        for i in range(6)
    ]
    sku = make(
        "Losartana potássica 50 mg, código CTY-48213-X, caixa com 30 comprimidos.",
        at_angle(90),
        position=6,
    )
    await store.upsert(collection, [*near, sku])
    query, vector = "vocês têm o CTY-48213-X?", at_angle(0)
    by_vector = await store.search(collection, query, vector, k=3, mode="vector")
    assert sku.chunk.id not in [h.chunk.id for h in by_vector]
    hybrid = await store.search(collection, query, vector, k=3, mode="hybrid")
    assert sku.chunk.id in [h.chunk.id for h in hybrid]
    assert len(hybrid) == 3
    assert all(0.0 <= h.score <= 1.0 for h in hybrid)
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    # A rare word, not a code: the same.
    rare = await store.search(collection, "tem losartana?", vector, k=3, mode="hybrid")
    assert sku.chunk.id in [h.chunk.id for h in rare]


async def test_filters_by_source_and_language(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    await store.upsert(
        collection,
        [
            make("Entrega em 24 horas na capital.", at_angle(0), source="a"),
            make("Entrega em 48 horas no interior.", at_angle(5), source="b"),
            make("Delivery within 24 hours.", at_angle(1), source="a", language="en", position=1),
        ],
    )
    for mode in ("vector", "hybrid"):
        only_b = await store.search(collection, "entrega horas", at_angle(0), mode=mode, source="b")
        assert texts(only_b) == ["Entrega em 48 horas no interior."], mode
        english = await store.search(
            collection, "entrega horas", at_angle(0), mode=mode, language="en"
        )
        assert texts(english) == ["Delivery within 24 hours."], mode
        both = await store.search(
            collection, "entrega", at_angle(0), mode=mode, source="a", language="pt"
        )
        assert texts(both) == ["Entrega em 24 horas na capital."], mode
        none = await store.search(collection, "entrega", at_angle(0), mode=mode, source="z")
        assert none == [], mode


async def test_k_bounds(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    await store.upsert(
        collection, [make(f"Pagamento por PIX {i}", at_angle(i), position=i) for i in range(7)]
    )
    for mode in ("vector", "hybrid"):
        assert len(await store.search(collection, "pix", at_angle(0), k=1, mode=mode)) == 1
        assert len(await store.search(collection, "pix", at_angle(0), k=5, mode=mode)) == 5
        assert len(await store.search(collection, "pix", at_angle(0), k=50, mode=mode)) == 7
        for bad in (0, -1, 101):
            with pytest.raises(ValueError, match="k must be"):
                await store.search(collection, "pix", at_angle(0), k=bad, mode=mode)


async def test_empty_collection(store: VectorStore, collection: str) -> None:
    await created(store, collection)
    assert await store.count(collection) == 0
    assert await store.chunk_ids(collection, "manual") == set()
    assert await store.delete_source(collection, "manual") == 0
    for mode in ("vector", "hybrid"):
        assert await store.search(collection, "qualquer coisa", unit(1), mode=mode) == []


async def test_query_without_words_still_searches_by_vector(
    store: VectorStore, collection: str
) -> None:
    await created(store, collection)
    await store.upsert(collection, [make("Cadeia fria: 2 °C a 8 °C.", unit(1))])
    hits = await store.search(collection, "?!", unit(1), mode="hybrid")
    assert texts(hits) == ["Cadeia fria: 2 °C a 8 °C."]
