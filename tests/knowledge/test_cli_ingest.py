"""`cienty kb ingest` and `cienty kb search`, with the in-memory store and the real MiniLM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cienty_knowledge.cli import KbDependencies, kb
from cienty_knowledge.embeddings.base import Embedder
from cienty_knowledge.embeddings.local import LocalEmbedder
from cienty_knowledge.settings import KnowledgeSettings
from cienty_knowledge.store.base import VectorStore
from cienty_knowledge.store.errors import StoreUnavailable
from tests.knowledge.memory_store import MemoryStore

ENV = {"CIENTY_EMBEDDING_URL": "", "CIENTY_KNOWLEDGE_COLLECTION": "cienty_knowledge"}


class Deps:
    """KbDependencies wired to one MemoryStore; records the settings each call got."""

    def __init__(self, embedder: LocalEmbedder, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()
        self.embedder = embedder
        self.settings: list[KnowledgeSettings] = []

    @asynccontextmanager
    async def open_store(self, settings: KnowledgeSettings) -> AsyncIterator[VectorStore]:
        self.settings.append(settings)
        yield self.store

    def build_embedder(self, settings: KnowledgeSettings) -> Embedder:
        self.settings.append(settings)
        return self.embedder

    def wired(self) -> KbDependencies:
        return KbDependencies(open_store=self.open_store, build_embedder=self.build_embedder)


def _invoke(deps: Deps, *args: str) -> Result:
    return CliRunner().invoke(kb, list(args), obj=deps.wired(), env=ENV)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "entrega.md").write_text(
        "# Entrega\n\n## Prazos\n\nCapitais em 24 horas, interior em 48 horas.\n\n"
        "## Pedido mínimo\n\nO pedido mínimo é de R$ 500,00."
    )
    (root / "pagamento.txt").write_text("Aceitamos PIX e boleto com prazo de 28 dias.")
    return root


def test_ingest_a_directory_with_json_and_report_file(
    docs: Path, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    deps = Deps(minilm)
    report_file = tmp_path / "termination-log"
    result = _invoke(deps, "ingest", str(docs), "--json", "--report-file", str(report_file))
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "local"
    assert report["collection"] == "cienty_knowledge"
    assert report["documents_seen"] == report["documents_ingested"] == 2
    assert report["chunks_total"] == report["chunks_added"] == 3
    assert report["dimensions"] == 384
    written = report_file.read_text()
    assert len(written.encode()) <= 4096
    assert json.loads(written)["chunks_total"] == 3
    assert deps.store.documents_of("cienty_knowledge", "local") == {"entrega.md", "pagamento.txt"}

    again = _invoke(deps, "ingest", str(docs), "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["documents_unchanged"] == 2
    assert json.loads(again.stdout)["chunks_added"] == 0


def test_failed_documents_are_listed_and_the_run_succeeds(
    docs: Path, minilm: LocalEmbedder
) -> None:
    (docs / "scan.pdf").write_bytes(b"%PDF-1.4 broken")
    result = _invoke(deps := Deps(minilm), "ingest", str(docs), "--source-name", "manual")
    assert result.exit_code == 0, result.output + result.stderr
    assert "documents: 3 seen, 2 ingested, 0 unchanged, 0 removed, 1 failed" in result.stdout
    assert "failed: scan.pdf: unreadable PDF" in result.stdout
    assert deps.store.documents_of("cienty_knowledge", "manual") == {"entrega.md", "pagamento.txt"}


def test_ingest_a_spec_as_the_operator_does(tmp_path: Path, minilm: LocalEmbedder) -> None:
    spec = {
        "source": {"inline": {"documents": [
            {"name": "entrega.md", "format": "markdown",
             "content": "# Entrega\nPedidos confirmados até as 14h saem no mesmo dia útil."},
            {"name": "pagamento.txt", "format": "text", "content": "PIX e boleto 28 dias."},
        ]}},
        "chunking": {"maxTokens": 100, "overlapTokens": 20},
        "embedding": {"model": "bge-m3", "endpoint": "http://llm-serve-svc:8000/embeddings/v1"},
        "collection": "faq_collection",
    }  # fmt: skip
    report_file = tmp_path / "termination-log"
    deps = Deps(minilm)
    result = _invoke(
        deps, "ingest", "--source-name", "faq-pedidos", "--spec-json", json.dumps(spec),
        "--report-file", str(report_file),
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(report_file.read_text())["documents_ingested"] == 2
    assert deps.store.documents_of("faq_collection", "faq-pedidos") == {
        "entrega.md", "pagamento.txt",
    }  # fmt: skip
    # The spec's embedding endpoint and model override the environment's.
    assert str(deps.settings[-1].embedding_url) == "http://llm-serve-svc:8000/embeddings/v1"
    assert deps.settings[-1].embedding_model == "bge-m3"


def test_ingest_a_yaml_spec_file_with_collection_override(
    docs: Path, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        f"source:\n  directory:\n    path: {docs}\ninclude: ['**/*.md']\n"
        "chunking: {maxTokens: 64, overlapTokens: 8}\n"
    )
    deps = Deps(minilm)
    result = _invoke(
        deps, "ingest", "--spec-file", str(spec_file), "--collection", "other", "--json"
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert deps.store.documents_of("other", "local") == {"entrega.md"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('{"source": {}}', "exactly one of"),
        ('{"source": {"directory": {"path": "/x"}}, "chunking": {"maxTokens": 2}}', "maxTokens"),
        ("{not json", "invalid spec"),
    ],
)
def test_bad_spec_exits_1_with_a_message(
    spec: str, message: str, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    report_file = tmp_path / "termination-log"
    deps = Deps(minilm)
    result = _invoke(deps, "ingest", "--spec-json", spec, "--report-file", str(report_file))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "invalid spec" in json.loads(report_file.read_text())["error"]
    assert deps.settings == []  # nothing was opened


def test_unreachable_store_exits_1(docs: Path, minilm: LocalEmbedder, tmp_path: Path) -> None:
    deps = Deps(minilm)

    @asynccontextmanager
    async def down(settings: KnowledgeSettings) -> AsyncIterator[VectorStore]:
        if not deps.store.closed:  # always: the store is down
            raise StoreUnavailable("PostgreSQL at localhost:5432 refused the connection")
        yield deps.store

    report_file = tmp_path / "termination-log"
    result = CliRunner().invoke(
        kb, ["ingest", str(docs), "--report-file", str(report_file)],
        obj=KbDependencies(open_store=down, build_embedder=deps.build_embedder), env=ENV,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "StoreUnavailable: PostgreSQL at localhost:5432 refused" in result.stderr
    assert json.loads(report_file.read_text())["source"] == "local"


def test_missing_source_directory_exits_1(tmp_path: Path, minilm: LocalEmbedder) -> None:
    result = _invoke(Deps(minilm), "ingest", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "no such file or directory" in result.stderr


def test_nothing_to_ingest_is_a_usage_error(minilm: LocalEmbedder) -> None:
    result = _invoke(Deps(minilm), "ingest")
    assert result.exit_code == 2
    assert "give PATHS" in result.stderr


def test_search_prints_citations(docs: Path, minilm: LocalEmbedder) -> None:
    deps = Deps(minilm)
    assert _invoke(deps, "ingest", str(docs), "--source-name", "manual").exit_code == 0
    result = _invoke(deps, "search", "qual o pedido mínimo?", "--json", "--k", "2")
    assert result.exit_code == 0, result.output + result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 2
    best = hits[0]
    assert (best["source"], best["document"], best["heading"]) == (
        "manual", "entrega.md", "Entrega > Pedido mínimo",
    )  # fmt: skip
    assert best["text"] == "O pedido mínimo é de R$ 500,00."
    assert best["score"] >= hits[1]["score"]

    text = _invoke(deps, "search", "pedido mínimo", "--mode", "vector", "--source", "manual")
    assert text.exit_code == 0
    assert "1. [" in text.stdout
    assert "manual / entrega.md - Entrega > Entrega > Pedido mínimo" not in text.stdout
    assert "manual / entrega.md - Entrega > Pedido mínimo" in text.stdout
    none = _invoke(deps, "search", "pedido", "--source", "other-source")
    assert none.stdout.strip() == "no results"
