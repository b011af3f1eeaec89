"""Knowledge ingestion throughput: the whole pipeline against the model's own encode().

A generated Portuguese corpus (Markdown files with headings) is ingested from a directory by
`cienty_knowledge.ingest.ingest` with the packaged MiniLM into a store that keeps nothing but
ids, and the same chunk texts are encoded by `SentenceTransformer.encode` directly (same
model object, same batch size, normalised). The two measurements alternate, so a slow patch
of this shared machine hits both alike; the figure is the median over rounds. Target: the
pipeline reaches at least 0.8 of the raw encode throughput (loading, chunking, diffing and
writing cost under a fifth of the time).
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.document import part_main
from cienty_kit.logging import configure_logging
from cienty_knowledge.chunking import Chunker, embedding_text
from cienty_knowledge.embeddings.local import LocalEmbedder, load_sentence_transformer
from cienty_knowledge.ingest import ingest
from cienty_knowledge.loaders import load_document
from cienty_knowledge.spec import KnowledgeSourceSpec
from cienty_knowledge.types import EmbeddedChunk, SearchHit, SearchMode

TARGET_RATIO = 0.8
BATCH_SIZE = 32
MAX_TOKENS, OVERLAP_TOKENS = 200, 40

_PARAGRAPHS = [
    "Pedidos confirmados até as {h} horas saem no mesmo dia útil. Para as capitais o prazo é "
    "de {d} dias úteis, e para o interior pode chegar a {d2} dias, conforme a transportadora.",
    "O pedido mínimo é de R$ {v},00 por CNPJ. Acima de R$ {v2}.000,00 o frete é grátis para "
    "todo o Brasil, exceto para a região Norte, onde há uma taxa fixa de R$ {h},90.",
    "Medicamentos controlados da Portaria 344 exigem a receita retida e o cadastro da farmácia "
    "atualizado na Anvisa; o lote {v} só é liberado após a conferência do farmacêutico.",
    "Aceitamos PIX, boleto com prazo de {d}{d2} dias e cartão corporativo. Boletos vencidos há "
    "mais de {d} dias bloqueiam novos pedidos até a compensação do pagamento.",
    "Devoluções são aceitas em até {d} dias após a entrega, com a nota fiscal e a embalagem "
    "original. Produtos termolábeis não podem ser devolvidos depois de sair da câmara fria.",
    "A Cienty atende farmácias independentes e redes regionais com mais de {v} mil itens, "
    "entre genéricos, similares, referência, dermocosméticos e produtos de higiene pessoal.",
]
_SECTIONS = ["Entrega", "Prazos", "Pagamento", "Devoluções", "Controlados", "Atendimento"]


def generate_corpus(root: Path, documents: int) -> None:
    for n in range(documents):
        lines = [f"# Política {n}: {_SECTIONS[n % len(_SECTIONS)]}", ""]
        for s in range(4):
            lines += [f"## {_SECTIONS[(n + s) % len(_SECTIONS)]} {s}", ""]
            for p in range(5):
                template = _PARAGRAPHS[(n + s + p) % len(_PARAGRAPHS)]
                lines.append(
                    template.format(
                        h=8 + (n + p) % 10,
                        d=1 + (n + s) % 9,
                        d2=2 + p,
                        v=n * 7 + s,
                        v2=1 + (s + p) % 5,
                    )
                )
                lines.append("")
        (root / f"politica-{n:03d}.md").write_text("\n".join(lines), encoding="utf-8")


class NullStore:
    """Keeps ids only: what the pipeline's diffing needs, nothing a real store would add."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def ensure_collection(self, collection: str, dimensions: int) -> None:
        pass

    async def upsert(self, collection: str, chunks: Sequence[EmbeddedChunk]) -> None:
        self.ids.update(item.chunk.id for item in chunks)

    async def chunk_ids(
        self, collection: str, source: str, document: str | None = None
    ) -> set[str]:
        return set() if document is not None else set(self.ids)

    async def delete(self, collection: str, ids: Iterable[str]) -> int:
        before = len(self.ids)
        self.ids.difference_update(ids)
        return before - len(self.ids)

    async def delete_source(self, collection: str, source: str) -> int:
        return await self.delete(collection, set(self.ids))

    async def count(self, collection: str, source: str | None = None) -> int:
        return len(self.ids)

    async def search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        *,
        k: int = 5,
        mode: SearchMode = "hybrid",
        source: str | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        return []

    async def close(self) -> None:
        pass


def _chunk_texts(root: Path, embedder: LocalEmbedder) -> list[str]:
    chunker = Chunker(embedder, max_tokens=MAX_TOKENS, overlap_tokens=OVERLAP_TOKENS)
    texts: list[str] = []
    for path in sorted(root.glob("*.md")):
        document = load_document(path.read_bytes(), "markdown", source="bench", uri=path.name)
        texts += [embedding_text(chunk) for chunk in chunker.chunk(document)]
    return texts


def _time_ingest(root: Path, embedder: LocalEmbedder) -> tuple[float, int]:
    spec = KnowledgeSourceSpec.model_validate(
        {"source": {"directory": {"path": str(root)}},
         "chunking": {"maxTokens": MAX_TOKENS, "overlapTokens": OVERLAP_TOKENS}}
    )  # fmt: skip
    started = time.perf_counter()
    report = asyncio.run(ingest("bench", spec, store=NullStore(), embedder=embedder))
    return time.perf_counter() - started, report.chunks_added


def _time_encode(model: Any, texts: list[str]) -> float:
    started = time.perf_counter()
    model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True,
                 show_progress_bar=False)  # fmt: skip
    return time.perf_counter() - started


def run(quick: bool = False) -> str:
    documents, rounds = (6, 3) if quick else (24, 5)
    configure_logging("WARNING", "console", stream=sys.stderr)  # the report is stdout
    model = load_sentence_transformer()
    embedder = LocalEmbedder(model=model, batch_size=BATCH_SIZE)
    pipeline: list[float] = []
    raw: list[float] = []
    with tempfile.TemporaryDirectory(prefix="knowledge-bench-") as tmp:
        root = Path(tmp)
        generate_corpus(root, documents)
        texts = _chunk_texts(root, embedder)
        _time_encode(model, texts[:BATCH_SIZE])  # warm-up
        for round_ in range(rounds):
            order = ("ingest", "encode") if round_ % 2 == 0 else ("encode", "ingest")
            for kind in order:
                if kind == "ingest":
                    seconds, chunks = _time_ingest(root, embedder)
                    if chunks != len(texts):
                        raise RuntimeError(f"ingested {chunks} chunks, expected {len(texts)}")
                    pipeline.append(len(texts) / seconds)
                else:
                    raw.append(len(texts) / _time_encode(model, texts))
    return _report(quick, documents, len(texts), rounds, pipeline, raw)


def _report(
    quick: bool, documents: int, chunks: int, rounds: int, pipeline: list[float], raw: list[float]
) -> str:
    ingest_rate, encode_rate = statistics.median(pipeline), statistics.median(raw)
    # Each round's two measurements ran back to back: their ratio is the paired comparison.
    ratio = statistics.median(p / r for p, r in zip(pipeline, raw, strict=True))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    return "\n".join(
        [
            "### Ingestion throughput",
            "",
            f"Method: {documents} generated Portuguese Markdown documents ({chunks} chunks of at "
            f"most {MAX_TOKENS} tokens, overlap {OVERLAP_TOKENS}) ingested from a directory by "
            "`cienty_knowledge.ingest` with the packaged all-MiniLM-L6-v2 on the CPU into a "
            "store that keeps only ids, against `SentenceTransformer.encode` of the same chunk "
            f"texts (batch {BATCH_SIZE}, normalised). {rounds} rounds, the two measurements "
            "alternating; medians, and the median of the rounds' ratios."
            + (" Quick mode: a smaller corpus." if quick else ""),
            "",
            f"Machine: {machine}.",
            "",
            "| measurement | chunks/s (median) | all rounds |",
            "|---|---:|---|",
            f"| ingestion pipeline | {ingest_rate:.1f} | "
            f"{', '.join(f'{r:.1f}' for r in pipeline)} |",
            f"| raw `encode()` | {encode_rate:.1f} | {', '.join(f'{r:.1f}' for r in raw)} |",
            "",
            f"- {verdict}  ingestion / raw encode throughput (median of paired rounds): "
            f"{ratio:.2f} "
            f"(target >= {TARGET_RATIO})",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    return part_main(lambda quick: run(quick=quick), __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
