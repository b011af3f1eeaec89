"""Retrieval quality of the sample knowledge base: the real pipeline into pgvector, MiniLM.

Measured when written (52 questions, MiniLM, pgvector): vector recall@5 0.865 / MRR 0.726,
hybrid recall@5 0.942 / MRR 0.816. The floors leave a margin for model or chunking changes;
hybrid must never be worse than vector-only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cienty_knowledge.embeddings.local import LocalEmbedder
from cienty_knowledge.evaluation import ModeQuality, evaluate, load_questions, markdown_table
from cienty_knowledge.ingest import ingest
from cienty_knowledge.search import KnowledgeSearch
from cienty_knowledge.spec import KnowledgeSourceSpec
from cienty_knowledge.store.pgvector import PgVectorStore

COLLECTION = "sample_quality"
SOURCE = "distribuidora"
HYBRID_RECALL_FLOOR = 0.85
VECTOR_RECALL_FLOOR = 0.75
HYBRID_MRR_FLOOR = 0.70


@pytest.fixture(scope="module")
def sample_root(repo_root: Path) -> Path:
    return repo_root / "knowledge" / "samples" / "distribuidora"


@pytest.fixture(scope="module")
async def sample_search(
    knowledge_database_url: str, minilm: LocalEmbedder, sample_root: Path
) -> AsyncIterator[KnowledgeSearch]:
    store = PgVectorStore.from_url(knowledge_database_url, pool_size=2)
    spec = KnowledgeSourceSpec.model_validate(
        {
            "source": {"directory": {"path": str(sample_root)}},
            "include": ["*.md"],
            "collection": COLLECTION,
        }
    )
    report = await ingest(SOURCE, spec, store=store, embedder=minilm)
    assert report.documents_failed == []
    assert report.documents_seen >= 8
    yield KnowledgeSearch(store, minilm, COLLECTION)
    await store.delete_source(COLLECTION, SOURCE)
    await store.close()


@pytest.fixture(scope="module")
async def qualities(sample_search: KnowledgeSearch, sample_root: Path) -> dict[str, ModeQuality]:
    questions = load_questions(sample_root / "questions.yaml")
    assert len(questions) >= 40
    results = await evaluate(sample_search, questions, modes=("vector", "hybrid"), k=5)
    print("\n" + markdown_table(results))
    return {q.mode: q for q in results}


def test_every_labelled_document_exists(sample_root: Path) -> None:
    for question in load_questions(sample_root / "questions.yaml"):
        document = sample_root / question.document
        assert document.is_file(), question
        if question.heading is not None:
            assert f" {question.heading}\n" in document.read_text(encoding="utf-8"), question


def test_hybrid_is_at_least_as_good_as_vector(qualities: dict[str, ModeQuality]) -> None:
    vector, hybrid = qualities["vector"], qualities["hybrid"]
    assert hybrid.recall >= vector.recall
    assert hybrid.mrr >= vector.mrr


def test_recall_floors(qualities: dict[str, ModeQuality]) -> None:
    assert qualities["hybrid"].recall >= HYBRID_RECALL_FLOOR, qualities["hybrid"].misses
    assert qualities["hybrid"].mrr >= HYBRID_MRR_FLOOR
    assert qualities["vector"].recall >= VECTOR_RECALL_FLOOR, qualities["vector"].misses


async def test_hits_carry_citations(sample_search: KnowledgeSearch) -> None:
    hits = await sample_search.search("qual o código da amoxicilina? CTY-20873", k=3)
    assert hits[0].chunk.document == "bulas.md"
    citation = hits[0].citation()
    assert citation["source"] == SOURCE
    assert "Amoxicilina" in str(citation["heading"])
    assert 0.0 < hits[0].score <= 1.0
    only_cadastro = await sample_search.search("documentos", k=5, source="nenhuma")
    assert only_cadastro == []
    assert await sample_search.search("   ") == []
