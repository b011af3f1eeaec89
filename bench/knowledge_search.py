"""Knowledge search benchmark: `python -m bench.knowledge_search [--quick]`.

Loads 100 000 chunks (5 000 with --quick) with random normalised 384-d vectors and
Portuguese-like text into pgvector (COPY, then the HNSW index is built once), and measures
`KnowledgeSearch.search` (MiniLM query embedding included) in hybrid and vector mode, one query
at a time: p50/p95 against the target p95 < 50 ms. The store alone (query already embedded) is
measured beside it. Then the sample knowledge base is ingested with the real pipeline and its
labelled questions give recall@5 and MRR per mode. The section goes to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.document import part_main
from cienty_dev.embedded import EmbeddedPostgres
from cienty_knowledge.embeddings.local import LocalEmbedder
from cienty_knowledge.evaluation import evaluate, load_questions, markdown_table
from cienty_knowledge.ingest import ingest
from cienty_knowledge.search import KnowledgeSearch, QueryMode
from cienty_knowledge.spec import KnowledgeSourceSpec
from cienty_knowledge.store.pgvector import PgVectorStore, hnsw_index_sql, table_name
from cienty_knowledge.types import chunk_id

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "knowledge" / "samples" / "distribuidora"
FULL_CHUNKS = 100_000
QUICK_CHUNKS = 5_000
DIMENSIONS = 384
TARGET_P95_MS = 50.0
COLLECTION = "bench_search"
WORDS_PER_CHUNK = 60
_SYLLABLES = ["ba", "ca", "da", "fa", "ga", "la", "ma", "na", "pa", "ra", "sa", "ta", "va",
              "be", "ce", "de", "fe", "le", "me", "ne", "pe", "re", "se", "te", "ve",
              "bi", "ci", "di", "fi", "li", "mi", "ni", "pi", "ri", "si", "ti", "vi",
              "bo", "co", "do", "fo", "lo", "mo", "no", "po", "ro", "so", "to", "vo",
              "ção", "ões", "nh", "lh", "gu", "qu"]  # fmt: skip


def _vocabulary(rng: np.random.Generator) -> list[str]:
    """The sample KB's own words (so real questions match something) plus made-up ones."""
    words: set[str] = set()
    for path in SAMPLE.glob("*.md"):
        words.update(w.strip(".,:;()!?").lower() for w in path.read_text().split())
    words = {w for w in words if w.isalpha()}
    while len(words) < 6000:
        words.add("".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5)))))
    return sorted(words)


def _records(count: int, seed: int = 7) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    vocabulary = np.array(_vocabulary(rng))
    ranks = np.arange(1, len(vocabulary) + 1)
    weights = 1.0 / ranks**1.07  # Zipf-like word frequencies
    weights /= weights.sum()
    order = rng.permutation(len(vocabulary))
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = vocabulary[order][rng.choice(len(vocabulary), size=(count, WORDS_PER_CHUNK), p=weights)]
    records = []
    for i in range(count):
        source = f"fonte{i % 10}"
        document = f"doc{i // 20}.md"
        text = " ".join(words[i]).capitalize() + "."
        records.append(
            (
                chunk_id(source, document, i % 20, str(i)),
                source,
                document,
                f"Documento {i // 20}",
                f"Seção {i % 7}",
                text,
                i % 20,
                str(i),
                "pt",
                vectors[i],
            )
        )
    return records


async def _load(store: PgVectorStore, database_url: str, count: int) -> float:
    """COPY `count` chunks in, then build the HNSW index once; returns seconds."""
    import asyncpg
    from pgvector.asyncpg import register_vector

    from cienty_kit.database import async_database_url

    started = time.perf_counter()
    await store.ensure_collection(COLLECTION, DIMENSIONS)
    table = table_name(COLLECTION)
    records = await asyncio.to_thread(_records, count)
    url = async_database_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await register_vector(connection)
        await connection.execute(f"DROP INDEX IF EXISTS {table}_hnsw")
        await connection.copy_records_to_table(
            table,
            records=records,
            columns=[
                "id", "source", "document", "title", "heading", "text", "position",
                "content_hash", "language", "embedding",
            ],
        )  # fmt: skip
        await connection.execute("SET maintenance_work_mem = '1GB'")
        await connection.execute("SET max_parallel_maintenance_workers = 2")
        await connection.execute(hnsw_index_sql(table))
        await connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def _latencies(
    call: Callable[[str], Awaitable[object]], queries: list[str], warmup: int
) -> list[float]:
    for query in queries[:warmup]:
        await call(query)
    samples = []
    for query in queries:
        started = time.perf_counter()
        await call(query)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples), q))


async def _run(quick: bool) -> str:
    count = QUICK_CHUNKS if quick else FULL_CHUNKS
    questions = load_questions(SAMPLE / "questions.yaml")
    queries = [q.text for q in questions] * (2 if quick else 4)
    with tempfile.TemporaryDirectory(prefix="bench-kb-") as scratch:
        postgres = EmbeddedPostgres(Path(scratch) / "postgres")
        try:
            url = postgres.database_url("cienty_knowledge_bench")
            store = PgVectorStore.from_url(url, pool_size=2)
            embedder = LocalEmbedder()
            try:
                load_s = await _load(store, url, count)
                search = KnowledgeSearch(store, embedder, COLLECTION)
                vectors = {q: (await embedder.embed([q]))[0] for q in set(queries)}
                rows = []
                verdict_p95 = 0.0
                modes: tuple[QueryMode, ...] = ("hybrid", "vector")
                for mode in modes:

                    async def full(query: str, mode: QueryMode = mode) -> object:
                        return await search.search(query, k=5, mode=mode)

                    async def store_only(query: str, mode: QueryMode = mode) -> object:
                        return await store.search(COLLECTION, query, vectors[query], k=5, mode=mode)

                    for label, call in (
                        ("KnowledgeSearch.search", full),
                        ("store only", store_only),
                    ):
                        samples = await _latencies(call, queries, warmup=20)
                        p50, p95 = _percentile(samples, 50), _percentile(samples, 95)
                        if label == "KnowledgeSearch.search":
                            verdict_p95 = max(verdict_p95, p95)
                        rows.append(
                            f"| {mode} | {label} | {len(samples)} | {p50:.2f} | {p95:.2f} |"
                            f" {statistics.fmean(samples):.2f} |"
                        )
                quality = await _quality(store, embedder)
            finally:
                await store.close()
        finally:
            postgres.stop()
    passed = verdict_p95 < TARGET_P95_MS
    return "\n".join(
        [
            "### Search latency",
            "",
            f"pgvector, {count:,} chunks (random normalised {DIMENSIONS}-d vectors, "
            f"{WORDS_PER_CHUNK}-word Portuguese-like texts; loaded and indexed in {load_s:.0f} s), "
            "k = 5, one query at a time, the sample questions as queries. "
            "`KnowledgeSearch.search` includes embedding the query with MiniLM on the CPU; "
            "`store only` starts from the embedded query.",
            "",
            "| mode | call | queries | p50 ms | p95 ms | mean ms |",
            "|---|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"{'PASS' if passed else 'FAIL'}  KnowledgeSearch.search p95 < {TARGET_P95_MS:.0f} ms"
            f" at {count:,} chunks: {verdict_p95:.2f} ms (worst mode)",
            "",
            f"Retrieval quality of the sample knowledge base ({len(questions)} labelled "
            "questions, MiniLM, pgvector):",
            "",
            quality,
            "",
        ]
    )


async def _quality(store: PgVectorStore, embedder: LocalEmbedder) -> str:
    spec = KnowledgeSourceSpec.model_validate(
        {"source": {"directory": {"path": str(SAMPLE)}}, "include": ["*.md"],
         "collection": "bench_sample"}
    )  # fmt: skip
    await ingest("distribuidora", spec, store=store, embedder=embedder)
    questions = load_questions(SAMPLE / "questions.yaml")
    qualities = await evaluate(
        KnowledgeSearch(store, embedder, "bench_sample"),
        questions,
        modes=("vector", "keyword", "hybrid"),
    )
    return markdown_table(qualities)


def run(quick: bool = False) -> str:
    """The "### Search latency" Markdown section (latency table, PASS/FAIL, quality table)."""
    return asyncio.run(_run(quick))


def main(argv: list[str] | None = None) -> int:
    return part_main(lambda quick: run(quick=quick), __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
