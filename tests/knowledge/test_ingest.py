"""The pipeline end to end with the real MiniLM and an in-memory store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cienty_knowledge.chunking import embedding_text
from cienty_knowledge.ingest import Outcome, ingest
from cienty_knowledge.report import IngestReport
from cienty_knowledge.sources import SourceError
from cienty_knowledge.spec import KnowledgeSourceSpec
from tests.fakes.server import BackgroundServer
from tests.knowledge.conftest import CountingEmbedder
from tests.knowledge.memory_store import ListingMemoryStore, MemoryStore

COLLECTION = "cienty_knowledge"
PARAGRAPH = (
    "Pedidos confirmados até as 14 horas saem no mesmo dia útil. O prazo para capitais é de "
    "24 horas e para o interior de 48 horas. O frete é grátis acima de dois mil reais. "
)


def _spec(root: Path, **extra: object) -> KnowledgeSourceSpec:
    return KnowledgeSourceSpec.model_validate(
        {"source": {"directory": {"path": str(root)}},
         "chunking": {"maxTokens": 64, "overlapTokens": 8}, **extra}
    )  # fmt: skip


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "entrega.md").write_text(
        "# Entrega\n\n## Prazos\n\n" + PARAGRAPH * 3 + "\n\n## Frete\n\nGrátis acima de R$ 2.000."
    )
    (root / "pagamento.txt").write_text("Aceitamos PIX e boleto com prazo de 28 dias.")
    (root / "devolucao.html").write_text("<h1>Devolução</h1><p>Até 7 dias após a entrega.</p>")
    return root


async def _run(
    root: Path, store: MemoryStore, embedder: CountingEmbedder, **extra: object
) -> IngestReport:
    return await ingest("manual", _spec(root, **extra), store=store, embedder=embedder)


async def test_first_run_stores_every_chunk(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    report = await _run(docs, store, counting_embedder)
    stored = store.collections[COLLECTION]
    assert store.dimensions[COLLECTION] == 384
    assert report.documents_seen == report.documents_ingested == 3
    assert report.documents_unchanged == 0
    assert report.documents_failed == []
    assert report.chunks_added == len(stored) == report.chunks_total > 3
    assert report.documents_total == 3
    assert report.documents_removed == 0
    assert counting_embedder.embedded == len(stored)
    assert store.documents_of(COLLECTION, "manual") == {
        "entrega.md", "pagamento.txt", "devolucao.html",
    }  # fmt: skip
    headings = {item.chunk.heading for item in stored.values()}
    assert {"Entrega > Prazos", "Entrega > Frete", "Devolução"} <= headings
    for item in stored.values():  # the vector is the embedding of the chunk with its context
        assert counting_embedder.count_tokens(embedding_text(item.chunk)) <= 64
        assert len(item.vector) == 384
    assert report.model == "sentence-transformers/all-MiniLM-L6-v2"


async def test_second_run_embeds_and_writes_nothing(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    first = await _run(docs, store, counting_embedder)
    counting_embedder.calls.clear()
    writes = len(store.upserted)
    second = await _run(docs, store, counting_embedder)
    assert counting_embedder.calls == []
    assert len(store.upserted) == writes
    assert second.documents_unchanged == 3
    assert second.documents_ingested == 0
    assert (second.chunks_added, second.chunks_deleted) == (0, 0)
    assert second.chunks_total == first.chunks_total


async def test_changed_document_only_its_chunks_change(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await _run(docs, store, counting_embedder)
    before = {k: v.chunk for k, v in store.collections[COLLECTION].items()}
    (docs / "pagamento.txt").write_text("Aceitamos PIX, cartão e boleto com prazo de 35 dias.")
    counting_embedder.calls.clear()
    report = await _run(docs, store, counting_embedder)
    after = {k: v.chunk for k, v in store.collections[COLLECTION].items()}
    assert report.documents_ingested == 1
    assert report.documents_unchanged == 2
    assert (report.chunks_added, report.chunks_deleted) == (1, 1)
    assert counting_embedder.calls == [["pagamento\n\nAceitamos PIX, cartão e boleto com prazo "
                                        "de 35 dias."]]  # fmt: skip
    gone = set(before) - set(after)
    assert [before[i].document for i in gone] == ["pagamento.txt"]
    assert [after[i].document for i in set(after) - set(before)] == ["pagamento.txt"]


async def test_shortened_document_loses_its_tail(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await _run(docs, store, counting_embedder)
    text = (docs / "entrega.md").read_text()
    (docs / "entrega.md").write_text(text[: text.index("## Frete")])
    counting_embedder.calls.clear()
    report = await _run(docs, store, counting_embedder)
    assert counting_embedder.calls == []  # the remaining chunks were all there
    assert report.chunks_deleted == 1
    assert report.documents_ingested == 1
    assert report.documents_unchanged == 2
    headings = {item.chunk.heading for item in store.collections[COLLECTION].values()}
    assert "Entrega > Frete" not in headings


async def test_removed_document_loses_its_chunks(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = ListingMemoryStore()
    await _run(docs, store, counting_embedder)
    entrega = await store.chunk_ids(COLLECTION, "manual", "entrega.md")
    (docs / "entrega.md").unlink()
    report = await _run(docs, store, counting_embedder)
    assert report.documents_removed == 1
    assert report.chunks_deleted == len(entrega) > 1
    assert store.documents_of(COLLECTION, "manual") == {"pagamento.txt", "devolucao.html"}


async def test_removed_count_unknown_without_document_listing(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await _run(docs, store, counting_embedder)
    (docs / "devolucao.html").unlink()
    report = await _run(docs, store, counting_embedder)
    assert report.documents_removed is None  # the chunks are gone all the same
    assert report.chunks_deleted == 1
    assert json.loads(report.to_json())["documents_removed"] is None


async def test_excluded_document_is_removed(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await _run(docs, store, counting_embedder)
    await _run(docs, store, counting_embedder, exclude=["*.html"])
    assert "devolucao.html" not in store.documents_of(COLLECTION, "manual")


async def test_failed_document_keeps_its_chunks(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await _run(docs, store, counting_embedder)
    kept = await store.chunk_ids(COLLECTION, "manual", "pagamento.txt")
    (docs / "pagamento.txt").write_bytes(b"\x00\x01\x02 binary now")
    (docs / "nova.pdf").write_bytes(b"%PDF-1.4 corrupt")
    (docs / "vazio.md").write_text("   \n")
    report = await _run(docs, store, counting_embedder)
    failed = {f.uri: f.reason for f in report.documents_failed}
    assert failed.keys() == {"pagamento.txt", "nova.pdf", "vazio.md"}
    assert "binary" in failed["pagamento.txt"]
    assert "PDF" in failed["nova.pdf"]
    assert failed["vazio.md"] == "empty document"
    assert await store.chunk_ids(COLLECTION, "manual", "pagamento.txt") == kept
    assert report.chunks_deleted == 0
    assert report.documents_seen == 5
    assert report.documents_unchanged == 2
    assert report.documents_total == 3  # two unchanged and the failed one that kept its chunks


def _site(state: dict[str, int]) -> Starlette:
    async def page(request: Request) -> Response:
        if request.path_params["name"] == "faq" and state["faq_status"] != 200:
            return PlainTextResponse("gone for now", status_code=state["faq_status"])
        return Response(f"<h1>{request.path_params['name']}</h1><p>{PARAGRAPH}</p>",
                        media_type="text/html")  # fmt: skip

    return Starlette(routes=[Route("/ajuda/{name}", page)])


@pytest.fixture
def site() -> Iterator[tuple[str, dict[str, int]]]:
    state = {"faq_status": 200}
    with BackgroundServer(_site(state)) as server:
        yield server.url, state


async def test_transient_404_does_not_wipe_knowledge(
    site: tuple[str, dict[str, int]], counting_embedder: CountingEmbedder
) -> None:
    url, state = site
    spec = KnowledgeSourceSpec.model_validate(
        {"source": {"http": {"urls": [f"{url}/ajuda/entrega", f"{url}/ajuda/faq"]}}}
    )
    store = MemoryStore()
    first = await ingest("ajuda", spec, store=store, embedder=counting_embedder)
    assert first.documents_ingested == 2
    state["faq_status"] = 404
    second = await ingest("ajuda", spec, store=store, embedder=counting_embedder)
    assert [(f.uri, f.reason) for f in second.documents_failed] == [
        (f"{url}/ajuda/faq", "HTTP 404")
    ]
    assert second.chunks_total == first.chunks_total
    assert second.chunks_deleted == 0
    state["faq_status"] = 503
    third = await ingest("ajuda", spec, store=store, embedder=counting_embedder)
    assert third.documents_failed[0].reason == "HTTP 503"
    assert third.chunks_total == first.chunks_total


async def test_rerun_after_a_crash_midway(docs: Path, counting_embedder: CountingEmbedder) -> None:
    class CrashingStore(MemoryStore):
        crash_after = 1

        async def upsert(self, collection: str, chunks: object) -> None:
            if self.crash_after == 0:
                raise ConnectionError("store went away")
            self.crash_after -= 1
            await super().upsert(collection, chunks)  # type: ignore[arg-type]

    for name in ("a", "b", "c", "d"):
        (docs / f"extra-{name}.md").write_text(f"# Extra {name}\n\n" + PARAGRAPH * 2)
    store = CrashingStore()
    with pytest.raises(ConnectionError):
        await ingest("manual", _spec(docs), store=store, embedder=counting_embedder,
                     embed_batch=4)  # fmt: skip
    partial = await store.count(COLLECTION, "manual")
    assert 0 < partial
    store.crash_after = 10**6
    counting_embedder.calls.clear()
    report = await ingest("manual", _spec(docs), store=store, embedder=counting_embedder)
    assert report.chunks_added == report.chunks_total - partial
    assert counting_embedder.embedded == report.chunks_added
    clean = MemoryStore()
    await ingest("manual", _spec(docs), store=clean, embedder=counting_embedder)
    assert set(store.collections[COLLECTION]) == set(clean.collections[COLLECTION])


async def test_sources_are_kept_apart(docs: Path, counting_embedder: CountingEmbedder) -> None:
    store = MemoryStore()
    await ingest("a", _spec(docs), store=store, embedder=counting_embedder)
    other = docs.parent / "other"
    other.mkdir()
    (other / "x.md").write_text("# X\n\nOutra fonte.")
    await ingest("b", _spec(other), store=store, embedder=counting_embedder)
    assert store.documents_of(COLLECTION, "a") == {"entrega.md", "pagamento.txt", "devolucao.html"}
    assert store.documents_of(COLLECTION, "b") == {"x.md"}


async def test_source_failure_deletes_nothing(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await _run(docs, store, counting_embedder)
    total = await store.count(COLLECTION)
    with pytest.raises(SourceError):
        await ingest("manual", _spec(docs / "missing"), store=store, embedder=counting_embedder)
    assert await store.count(COLLECTION) == total


async def test_dimension_mismatch_stops_the_run(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    await store.ensure_collection(COLLECTION, 768)
    with pytest.raises(ValueError, match="768"):
        await _run(docs, store, counting_embedder)
    assert counting_embedder.calls == []


async def test_progress_callbacks(docs: Path, counting_embedder: CountingEmbedder) -> None:
    events: list[tuple[str, Outcome, int]] = []
    embedded: list[int] = []

    class Recorder:
        def document_done(self, uri: str, outcome: Outcome, chunks: int) -> None:
            events.append((uri, outcome, chunks))

        def chunks_embedded(self, count: int) -> None:
            embedded.append(count)

    (docs / "vazio.txt").write_text("")
    report = await ingest("manual", _spec(docs), store=MemoryStore(), embedder=counting_embedder,
                          progress=Recorder())  # fmt: skip
    assert sorted((u, o) for u, o, _ in events) == [
        ("devolucao.html", "ingested"), ("entrega.md", "ingested"),
        ("pagamento.txt", "ingested"), ("vazio.txt", "failed"),
    ]  # fmt: skip
    assert sum(embedded) == report.chunks_added == sum(c for *_, c in events)


def test_report_json_fits_a_termination_message() -> None:
    report = IngestReport(source="s", collection="c", documents_seen=500)
    from cienty_knowledge.report import FailedDocument

    report.documents_failed = [
        FailedDocument(f"https://cienty.com.br/ajuda/{i}", "HTTP 404 " * 10) for i in range(200)
    ]
    full = json.loads(report.to_json())
    assert len(full["documents_failed"]) == 200
    text = report.to_json(max_bytes=4096)
    assert len(text.encode()) <= 4096
    short = json.loads(text)
    assert short["documents_seen"] == 500
    assert 0 < len(short["documents_failed"]) < 200
    assert short["failures_left_out"] == 200 - len(short["documents_failed"])


class AnalyzingStore(MemoryStore):
    """A store with the optional statistics capability, recording when it is used."""

    def __init__(self) -> None:
        super().__init__()
        self.analyzed: list[str] = []

    async def analyze(self, collection: str) -> None:
        self.analyzed.append(collection)


async def test_statistics_are_refreshed_only_after_a_change(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = AnalyzingStore()
    await _run(docs, store, counting_embedder)
    assert store.analyzed == [COLLECTION]
    await _run(docs, store, counting_embedder)  # nothing changed: no ANALYZE
    assert store.analyzed == [COLLECTION]
    (docs / "entrega.md").unlink()
    await _run(docs, store, counting_embedder)
    assert store.analyzed == [COLLECTION, COLLECTION]


async def test_another_embedding_model_re_embeds_everything(
    docs: Path, counting_embedder: CountingEmbedder
) -> None:
    store = MemoryStore()
    first = await _run(docs, store, counting_embedder)
    old_ids = set(store.collections[COLLECTION])
    counting_embedder.calls.clear()
    counting_embedder.model = "another-384-dimension-model"  # same dimension, other space
    second = await _run(docs, store, counting_embedder)
    assert counting_embedder.embedded == first.chunks_total
    assert second.chunks_added == second.chunks_deleted == first.chunks_total
    assert set(store.collections[COLLECTION]).isdisjoint(old_ids)
