"""What the stores decide without a server: Weaviate mappings, scores, the factory's errors."""

from __future__ import annotations

import pytest

from cienty_knowledge.settings import KnowledgeSettings
from cienty_knowledge.store import pgvector, weaviate
from cienty_knowledge.store.errors import StoreUnavailable, UnknownBackend
from cienty_knowledge.store.factory import open_store
from cienty_knowledge.types import Chunk, chunk_id


def _chunk() -> Chunk:
    return Chunk(
        id=chunk_id("manual", "entrega.md", 3, "h"),
        source="manual",
        document="entrega.md",
        title="Entrega",
        heading="Entrega > Prazos",
        text="Pedidos até as 14h chegam em 24 horas.",
        position=3,
        content_hash="h",
        language="pt",
    )


def test_weaviate_class_names() -> None:
    assert weaviate.class_name("cienty_knowledge") == "Cienty_knowledge"
    assert weaviate.class_name("kb2") == "Kb2"
    for bad in ("Cienty", "1kb", "", "kb-x", "a" * 49):
        with pytest.raises(ValueError, match="invalid collection name"):
            weaviate.class_name(bad)


def test_weaviate_properties_round_trip() -> None:
    chunk = _chunk()
    properties = weaviate.chunk_properties(chunk)
    assert set(properties) == {*weaviate.TEXT_PROPERTIES, "position"}
    assert weaviate.chunk_from(chunk.id, properties) == chunk


def test_weaviate_filters() -> None:
    assert weaviate.filter_conditions(source=None, language=None) == []
    assert weaviate.build_filter([]) is None
    conditions = weaviate.filter_conditions(source="manual", language="pt")
    assert conditions == [("source", "manual"), ("language", "pt")]
    one = weaviate.build_filter(conditions[:1])
    assert (one.target, one.value) == ("source", "manual")
    both = weaviate.build_filter(conditions)
    assert [(f.target, f.value) for f in both.filters] == conditions


def test_weaviate_scores_and_modes() -> None:
    assert weaviate.vector_score(0.0) == 1.0
    assert weaviate.vector_score(2.0) == 0.0
    assert weaviate.vector_score(0.5) == pytest.approx(0.75)
    assert weaviate.vector_score(None) == 0.0
    assert weaviate.bm25_score(0.0) == 0.0
    assert 0.0 < weaviate.bm25_score(3.0) < 1.0
    assert weaviate.alpha_for("hybrid") == weaviate.HYBRID_ALPHA == 0.5
    assert weaviate.alpha_for("keyword") == 0.0
    with pytest.raises(ValueError, match="unknown search mode"):
        weaviate.alpha_for("semantic")


def test_weaviate_dimensions_in_the_description() -> None:
    assert weaviate.dimensions_from(weaviate.description_for(384)) == 384
    assert weaviate.dimensions_from(None) is None
    assert weaviate.dimensions_from("made by hand") is None


def test_weaviate_connection_params() -> None:
    assert weaviate.connection_params("http://weaviate.kb.svc:8080") == {
        "http_host": "weaviate.kb.svc",
        "http_port": 8080,
        "http_secure": False,
        "grpc_host": "weaviate.kb.svc",
        "grpc_port": 50051,
        "grpc_secure": False,
    }
    managed = weaviate.connection_params("https://abc.weaviate.cloud")
    assert (managed["http_port"], managed["grpc_port"], managed["grpc_secure"]) == (443, 443, True)
    assert weaviate.connection_params("http://w:8080", grpc_port=6000)["grpc_port"] == 6000
    with pytest.raises(ValueError, match="http"):
        weaviate.connection_params("grpc://w:50051")


def test_pgvector_names_and_literals() -> None:
    assert pgvector.table_name("cienty_knowledge") == "kb_cienty_knowledge"
    with pytest.raises(ValueError, match="invalid collection name"):
        pgvector.table_name("x; DROP TABLE y")
    assert pgvector.vector_literal([1, 0.5, -0.25]) == "[1.0,0.5,-0.25]"
    assert pgvector.candidates_for(1) == 40
    assert pgvector.candidates_for(20) == 80


async def test_open_store_refuses_an_unknown_backend() -> None:
    settings = KnowledgeSettings.model_construct(vector_backend="milvus")  # type: ignore[arg-type]
    with pytest.raises(UnknownBackend, match="milvus"):
        await open_store(settings)
    weaviate_without_url = KnowledgeSettings(vector_backend="weaviate", weaviate_url=None)
    with pytest.raises(UnknownBackend, match="CIENTY_WEAVIATE_URL"):
        await open_store(weaviate_without_url)


async def test_open_store_says_when_postgres_is_unreachable() -> None:
    settings = KnowledgeSettings(database_url="postgresql://kb@127.0.0.1:9/kb")
    with pytest.raises(StoreUnavailable, match="pgvector database"):
        async with open_store(settings):
            pass


async def test_open_store_says_when_weaviate_is_unreachable() -> None:
    settings = KnowledgeSettings(vector_backend="weaviate", weaviate_url="http://127.0.0.1:9")
    with pytest.raises(StoreUnavailable, match="Weaviate"):
        await open_store(settings)


async def test_open_store_as_context_manager(knowledge_database_url: str) -> None:
    settings = KnowledgeSettings(database_url=knowledge_database_url)
    async with open_store(settings) as store:
        await store.ensure_collection("factory_check", 4)
        assert await store.count("factory_check") == 0
    store = await open_store(settings)
    try:
        await store.ensure_collection("factory_check", 4)
    finally:
        await store.close()
