"""The pgvector store: one table per collection, HNSW (cosine) + Portuguese full text, fused.

Schema (created by `ensure_collection`, idempotently, under an advisory lock):

- `kb_collections(name PRIMARY KEY, dimensions, created_at)`: the registry. A collection's
  dimension is recorded once; asking for another one is a `ValueError`.
- `kb_<collection>`: the chunks of one collection only (two collections never share a table,
  so they can never mix, and each table's `vector(N)` column has the collection's dimension,
  which HNSW needs). Columns: the `Chunk` fields, `embedding vector(N)`, and `tsv`, a STORED
  generated `tsvector` ('portuguese' configuration over `kb_unaccent(...)`; title and heading
  weighted A, text B). Indexes: HNSW `vector_cosine_ops` on `embedding`, GIN on `tsv`, B-tree
  on `(source, document)`.
- `kb_unaccent(text)`: an IMMUTABLE wrapper around `unaccent` (generated columns refuse
  STABLE functions; PostgreSQL 18 generated columns are VIRTUAL unless STORED).

Why runtime DDL rather than Alembic: collections are named by KnowledgeSource resources at run
time, so their tables cannot be in a migration anyway; keeping the two extensions, the wrapper
and the registry in the same idempotent bootstrap means the ingestion worker needs no separate
migrate step. Two workers creating the same collection at once serialise on
`pg_advisory_xact_lock`.

Search, in one SQL statement:

- `vector`: `ORDER BY embedding <=> :q LIMIT k` through the HNSW index; score =
  `1 - cosine_distance / 2`, in [0, 1] (1: same direction).
- `keyword`: the query's Portuguese lexemes OR-ed (a chat question rarely contains every word
  of the answer), minus those the table statistics say match more than 1 000 chunks (a cut like
  inverse document frequency: ranking tens of thousands of rows that share a common word costs
  more than the word tells), matched through the GIN index, ranked by `ts_rank(tsv, q, 1)`;
  score = `rank / (rank + 1)`, in [0, 1).
- `hybrid`: the best `candidates` of each ranking (filters applied inside both), fused by
  reciprocal rank: `sum(1 / (60 + rank))`, divided by its maximum `2 / 61`, so a chunk first in
  both rankings scores 1.0 and the range is (0, 1].

`hnsw.ef_search` is set per search transaction (`SET LOCAL`) to at least the number of vector
candidates, and `hnsw.iterative_scan = strict_order`, so a filter by source or language that
removes most of the graph's neighbours still yields enough rows, in exact order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cienty_kit.database import create_engine
from cienty_knowledge.store.errors import StoreUnavailable
from cienty_knowledge.types import Chunk, EmbeddedChunk, SearchHit, SearchMode

StoreMode = SearchMode | Literal["keyword"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_BOOTSTRAP_LOCK = 0x6B625F626F6F74  # "kb_boot"
RRF_K = 60  # the usual reciprocal-rank constant: rank 1 and rank 10 differ, not by 10x
MAX_K = 100
_MIN_CANDIDATES = 40
_UPSERT_BATCH = 500

_BOOTSTRAP = (
    "CREATE EXTENSION IF NOT EXISTS vector",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """
    DO $$ BEGIN
      IF to_regprocedure('kb_unaccent(text)') IS NULL THEN
        CREATE FUNCTION kb_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS 'SELECT public.unaccent(''public.unaccent''::regdictionary, $1)';
      END IF;
    END $$
    """,
    """
    CREATE TABLE IF NOT EXISTS kb_collections (
        name text PRIMARY KEY,
        dimensions integer NOT NULL CHECK (dimensions > 0),
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)

_TSV = (
    "setweight(to_tsvector('portuguese'::regconfig, kb_unaccent(title || ' ' || heading)), 'A')"
    " || setweight(to_tsvector('portuguese'::regconfig, kb_unaccent(text)), 'B')"
)

# The query's lexemes, OR-ed (NULL when it has none: then the keyword side is empty). Lexemes
# that PostgreSQL's statistics say match more than `:max_rows` chunks are left out, like stop
# words (an inverse-document-frequency cut: ranking tens of thousands of rows that share a
# common word costs more than the word tells); when every lexeme is that common, two or more
# are AND-ed instead.
_QUERY_CTES = """
    lexemes AS (
        SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('portuguese'::regconfig,
            kb_unaccent(CAST(:query AS text))))) AS lexeme
        WHERE lexeme !~ '[''\\\\]'
    ),
    common AS (
        SELECT e.lexeme, e.freq FROM pg_stats s,
            LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs)
                AS e(lexeme, freq)
        WHERE s.schemaname = current_schema() AND s.tablename = :table_name
          AND s.attname = 'tsv'
    ),
    q AS MATERIALIZED (
        SELECT coalesce(
            (SELECT string_agg(quote_literal(l.lexeme), ' | ')
             FROM lexemes l LEFT JOIN common c ON c.lexeme = l.lexeme
             WHERE coalesce(c.freq, 0) * (
                SELECT greatest(reltuples, 0) FROM pg_class
                WHERE oid = CAST(:table_name AS regclass)) <= :max_rows)::tsquery,
            CASE WHEN (SELECT count(*) FROM lexemes) >= 2 THEN
                (SELECT string_agg(quote_literal(lexeme), ' & ') FROM lexemes)::tsquery
            END
        ) AS tsq
    )
"""
MAX_KEYWORD_ROWS = 1000
_FILTER = (
    "(CAST(:source AS text) IS NULL OR source = CAST(:source AS text))"
    " AND (CAST(:language AS text) IS NULL OR language = CAST(:language AS text))"
)
_COLUMNS = "id, source, document, title, heading, text, position, content_hash, language"


def table_name(collection: str) -> str:
    if not _NAME.match(collection):
        raise ValueError(
            f"invalid collection name {collection!r}: use lower-case letters, digits and "
            "underscores, starting with a letter, at most 48 characters"
        )
    return f"kb_{collection}"


def hnsw_index_sql(table: str) -> str:
    """The collection table's HNSW index (cosine), pgvector's default build parameters."""
    return (
        f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} "
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
    )


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def candidates_for(k: int) -> int:
    """How many rows each ranking contributes to the fusion."""
    return max(_MIN_CANDIDATES, 4 * k)


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")


def _sql_vector(table: str) -> str:
    return f"""
        SELECT {_COLUMNS}, 1 - (embedding <=> CAST(CAST(:vector AS text) AS vector)) / 2 AS score
        FROM {table} WHERE {_FILTER}
        ORDER BY embedding <=> CAST(CAST(:vector AS text) AS vector), id
        LIMIT :k
    """


def _sql_keyword(table: str) -> str:
    return f"""
        WITH {_QUERY_CTES}
        SELECT {_COLUMNS}, rank / (rank + 1) AS score FROM (
            SELECT {_COLUMNS}, ts_rank(tsv, (SELECT tsq FROM q), 1) AS rank
            FROM {table} WHERE tsv @@ (SELECT tsq FROM q) AND {_FILTER}
        ) ranked
        ORDER BY score DESC, id
        LIMIT :k
    """


def _sql_hybrid(table: str) -> str:
    return f"""
        WITH {_QUERY_CTES},
        by_vector AS (
            SELECT id, row_number() OVER (ORDER BY distance, id) AS r FROM (
                SELECT id, embedding <=> CAST(CAST(:vector AS text) AS vector) AS distance
                FROM {table} WHERE {_FILTER}
                ORDER BY embedding <=> CAST(CAST(:vector AS text) AS vector)
                LIMIT :candidates
            ) nearest
        ),
        by_keyword AS (
            SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r FROM (
                SELECT id, ts_rank(tsv, (SELECT tsq FROM q), 1) AS rank
                FROM {table} WHERE tsv @@ (SELECT tsq FROM q) AND {_FILTER}
                ORDER BY rank DESC, id
                LIMIT :candidates
            ) matching
        ),
        fused AS (
            SELECT id, sum(1.0 / ({RRF_K} + r)) AS rrf FROM (
                SELECT id, r FROM by_vector UNION ALL SELECT id, r FROM by_keyword
            ) ranks
            GROUP BY id
            ORDER BY rrf DESC, id
            LIMIT :k
        )
        SELECT {", ".join(f"t.{c.strip()}" for c in _COLUMNS.split(","))},
               (fused.rrf / (2.0 / ({RRF_K} + 1)))::float8 AS score
        FROM fused JOIN {table} t USING (id)
        ORDER BY fused.rrf DESC, t.id
    """


def _hit(row: Any) -> SearchHit:
    chunk = Chunk(
        id=str(row.id),
        source=row.source,
        document=row.document,
        title=row.title,
        heading=row.heading,
        text=row.text,
        position=row.position,
        content_hash=row.content_hash,
        language=row.language,
    )
    return SearchHit(chunk=chunk, score=float(row.score))


class PgVectorStore:
    """`VectorStore` on PostgreSQL with pgvector (see the module docstring for the schema)."""

    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = True) -> None:
        self._engine = engine
        self._owns_engine = owns_engine
        self._dimensions: dict[str, int] = {}  # collections known to exist here
        self._bootstrapped = False

    @classmethod
    def from_url(cls, database_url: str, *, pool_size: int = 5) -> PgVectorStore:
        return cls(create_engine(database_url, pool_size=pool_size))

    async def __aenter__(self) -> PgVectorStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()

    async def ping(self) -> None:
        """Raises `StoreUnavailable` when the database cannot be reached."""
        async with self._connect() as connection:
            await connection.execute(text("SELECT 1"))

    def _connect(self) -> _Connect:
        return _Connect(self._engine)

    # -- collections --------------------------------------------------------------------------

    async def ensure_collection(self, collection: str, dimensions: int) -> None:
        table = table_name(collection)
        if dimensions < 1 or dimensions > 16000:
            raise ValueError(f"dimensions must be between 1 and 16000, got {dimensions}")
        known = self._dimensions.get(collection)
        if known is None:
            known = await self._recorded_dimensions(collection)
        if known is not None:
            self._check_dimensions(collection, known, dimensions)
            self._dimensions[collection] = known
            return
        async with self._connect() as connection, connection.begin():
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK}
            )
            if not self._bootstrapped:
                for statement in _BOOTSTRAP:
                    await connection.execute(text(statement))
            recorded = (
                await connection.execute(
                    text("SELECT dimensions FROM kb_collections WHERE name = :name"),
                    {"name": collection},
                )
            ).scalar_one_or_none()
            if recorded is not None:  # another worker created it while we waited
                self._check_dimensions(collection, recorded, dimensions)
            else:
                await self._create_table(connection, collection, table, dimensions)
        self._bootstrapped = True
        self._dimensions[collection] = dimensions

    async def _recorded_dimensions(self, collection: str) -> int | None:
        async with self._connect() as connection:
            exists = (
                await connection.execute(text("SELECT to_regclass('kb_collections') IS NOT NULL"))
            ).scalar_one()
            if not exists:
                return None
            value = (
                await connection.execute(
                    text("SELECT dimensions FROM kb_collections WHERE name = :name"),
                    {"name": collection},
                )
            ).scalar_one_or_none()
            return None if value is None else int(value)

    @staticmethod
    def _check_dimensions(collection: str, recorded: int, asked: int) -> None:
        if recorded != asked:
            raise ValueError(
                f"collection {collection!r} holds {recorded}-dimensional vectors, not {asked}: "
                "an embedding model of another size needs another collection (or delete this "
                "one and re-ingest)"
            )

    @staticmethod
    async def _create_table(
        connection: AsyncConnection, collection: str, table: str, dimensions: int
    ) -> None:
        await connection.execute(
            text(
                f"""
                CREATE TABLE IF NOT EXISTS {table} (
                    id uuid PRIMARY KEY,
                    source text NOT NULL,
                    document text NOT NULL,
                    title text NOT NULL,
                    heading text NOT NULL,
                    text text NOT NULL,
                    position integer NOT NULL,
                    content_hash text NOT NULL,
                    language text NOT NULL,
                    embedding vector({dimensions}) NOT NULL,
                    tsv tsvector GENERATED ALWAYS AS ({_TSV}) STORED,
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
        )
        await connection.execute(text(hnsw_index_sql(table)))
        # More tracked lexemes: the keyword search's common-word cut reads these statistics.
        await connection.execute(text(f"ALTER TABLE {table} ALTER COLUMN tsv SET STATISTICS 1000"))
        await connection.execute(
            text(f"CREATE INDEX IF NOT EXISTS {table}_tsv ON {table} USING gin (tsv)")
        )
        await connection.execute(
            text(f"CREATE INDEX IF NOT EXISTS {table}_src ON {table} (source, document)")
        )
        await connection.execute(
            text("INSERT INTO kb_collections (name, dimensions) VALUES (:name, :dimensions)"),
            {"name": collection, "dimensions": dimensions},
        )

    async def _table(self, collection: str) -> str:
        """The collection's table; `LookupError` when the collection was never created."""
        table = table_name(collection)
        if collection not in self._dimensions:
            recorded = await self._recorded_dimensions(collection)
            if recorded is None:
                raise LookupError(f"collection {collection!r} does not exist: ingest into it first")
            self._dimensions[collection] = recorded
        return table

    # -- writes -------------------------------------------------------------------------------

    async def upsert(self, collection: str, chunks: Sequence[EmbeddedChunk]) -> None:
        if not chunks:
            return
        table = await self._table(collection)
        dimensions = self._dimensions[collection]
        rows: list[dict[str, Any]] = []
        for item in chunks:
            if len(item.vector) != dimensions:
                raise ValueError(
                    f"chunk {item.chunk.id} has a {len(item.vector)}-dimensional vector; "
                    f"collection {collection!r} holds {dimensions}"
                )
            c = item.chunk
            rows.append(
                {
                    "id": c.id,
                    "source": c.source,
                    "document": c.document,
                    "title": c.title,
                    "heading": c.heading,
                    "text": c.text,
                    "position": c.position,
                    "content_hash": c.content_hash,
                    "language": c.language,
                    "embedding": vector_literal(item.vector),
                }
            )
        statement = text(
            f"""
            INSERT INTO {table} ({_COLUMNS}, embedding)
            VALUES (CAST(:id AS uuid), :source, :document, :title, :heading, :text, :position,
                    :content_hash, :language, CAST(CAST(:embedding AS text) AS vector))
            ON CONFLICT (id) DO UPDATE SET
                source = EXCLUDED.source, document = EXCLUDED.document,
                title = EXCLUDED.title, heading = EXCLUDED.heading, text = EXCLUDED.text,
                position = EXCLUDED.position, content_hash = EXCLUDED.content_hash,
                language = EXCLUDED.language, embedding = EXCLUDED.embedding, updated_at = now()
            """
        )
        async with self._connect() as connection, connection.begin():
            for start in range(0, len(rows), _UPSERT_BATCH):
                await connection.execute(statement, rows[start : start + _UPSERT_BATCH])

    async def chunk_ids(
        self, collection: str, source: str, document: str | None = None
    ) -> set[str]:
        table = await self._table(collection)
        async with self._connect() as connection:
            result = await connection.execute(
                text(
                    f"SELECT id FROM {table} WHERE source = :source"
                    " AND (CAST(:document AS text) IS NULL OR document = CAST(:document AS text))"
                ),
                {"source": source, "document": document},
            )
            return {str(row[0]) for row in result}

    async def analyze(self, collection: str) -> None:
        """Fresh planner statistics: the keyword side of hybrid search reads them."""
        table = await self._table(collection)
        async with self._connect() as connection, connection.begin():
            await connection.execute(text(f"ANALYZE {table}"))

    async def documents(self, collection: str, source: str) -> set[str]:
        """The documents a source has chunks for (the ingest report counts removed ones)."""
        table = await self._table(collection)
        async with self._connect() as connection:
            result = await connection.execute(
                text(f"SELECT DISTINCT document FROM {table} WHERE source = :source"),
                {"source": source},
            )
            return {str(row[0]) for row in result}

    async def delete(self, collection: str, ids: Iterable[str]) -> int:
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        table = await self._table(collection)
        async with self._connect() as connection, connection.begin():
            result = await connection.execute(
                text(f"DELETE FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": wanted}
            )
            return int(result.rowcount)

    async def delete_source(self, collection: str, source: str) -> int:
        table = await self._table(collection)
        async with self._connect() as connection, connection.begin():
            result = await connection.execute(
                text(f"DELETE FROM {table} WHERE source = :source"), {"source": source}
            )
            return int(result.rowcount)

    async def count(self, collection: str, source: str | None = None) -> int:
        table = await self._table(collection)
        async with self._connect() as connection:
            value = (
                await connection.execute(
                    text(
                        f"SELECT count(*) FROM {table}"
                        " WHERE CAST(:source AS text) IS NULL OR source = CAST(:source AS text)"
                    ),
                    {"source": source},
                )
            ).scalar_one()
            return int(value)

    # -- search -------------------------------------------------------------------------------

    async def search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        *,
        k: int = 5,
        mode: StoreMode = "hybrid",
        source: str | None = None,
        language: str | None = None,
    ) -> list[SearchHit]:
        _check_k(k)
        table = await self._table(collection)
        params: dict[str, Any] = {"k": k, "source": source, "language": language}
        if mode != "keyword":
            dimensions = self._dimensions[collection]
            if len(vector) != dimensions:
                raise ValueError(
                    f"query vector has {len(vector)} dimensions; collection {collection!r} "
                    f"holds {dimensions}"
                )
            params["vector"] = vector_literal(vector)
        if mode == "vector":
            sql = _sql_vector(table)
            ef_search = max(_MIN_CANDIDATES, 2 * k)
        elif mode == "keyword":
            sql = _sql_keyword(table)
            params.update(query=query, table_name=table, max_rows=MAX_KEYWORD_ROWS)
            ef_search = 0
        elif mode == "hybrid":
            sql = _sql_hybrid(table)
            params.update(query=query, table_name=table, max_rows=MAX_KEYWORD_ROWS)
            params["candidates"] = candidates_for(k)
            ef_search = max(_MIN_CANDIDATES, params["candidates"])
        else:
            raise ValueError(f"unknown search mode {mode!r}: use 'vector' or 'hybrid'")
        async with self._connect() as connection, connection.begin():
            if ef_search:
                await connection.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
                await connection.exec_driver_sql("SET LOCAL hnsw.iterative_scan = strict_order")
            result = await connection.execute(text(sql), params)
            return [_hit(row) for row in result]


class _Connect:
    """`engine.connect()` that turns connection failures into `StoreUnavailable`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        try:
            self._connection = await self._engine.connect()
        except (OperationalError, DBAPIError, OSError) as error:
            raise StoreUnavailable(
                f"cannot reach the pgvector database: {type(error).__name__}: {error}"
            ) from error
        return self._connection

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()
