"""The Weaviate store, through the official v4 async client.

- One Weaviate collection per knowledge collection: `cienty_knowledge` becomes
  `Cienty_knowledge` (Weaviate class names start with a capital; our names are lower-case, so
  the mapping is one to one). Vectors are self-provided (no vectorizer), HNSW with cosine
  distance. The dimension is recorded in the collection's description
  (`cienty-knowledge dimensions=384`) and checked by `ensure_collection`.
- Objects: uuid = the chunk's deterministic id, so an insert of the same id replaces it;
  properties = the `Chunk` fields (`source`, `document`, `language`, `content_hash` with FIELD
  tokenization: exact filters; `title`, `heading`, `text` with WORD tokenization: BM25).
- Search: `vector` → `near_vector` (score `1 - distance / 2`, in [0, 1]); `hybrid` →
  `hybrid(alpha=HYBRID_ALPHA)` with relative-score fusion (scores in [0, 1]); `keyword` →
  `bm25` (score `s / (s + 1)`). Filters by source and language go to both sides.
  `HYBRID_ALPHA = 0.5` weighs both sides equally, as the pgvector store's reciprocal-rank fusion
  does; Weaviate's own default (0.75) leans on vectors, which loses the exact-token matches
  (SKUs, product names) that are the reason to search hybrid.
- Weak point: `chunk_ids` pages with offsets, which Weaviate caps at QUERY_MAXIMUM_RESULTS
  (10 000 by default) per filter; a source with more chunks needs that limit raised.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from cienty_knowledge.store.errors import StoreUnavailable
from cienty_knowledge.types import Chunk, EmbeddedChunk, SearchHit, SearchMode

StoreMode = SearchMode | Literal["keyword"]

HYBRID_ALPHA = 0.5
DEFAULT_GRPC_PORT = 50051
MAX_K = 100
_PAGE = 1000
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_DESCRIPTION = re.compile(r"cienty-knowledge dimensions=(\d+)")
TEXT_PROPERTIES = ("source", "document", "title", "heading", "text", "content_hash", "language")
FIELD_PROPERTIES = frozenset({"source", "document", "content_hash", "language"})
BM25_PROPERTIES = ["title", "heading", "text"]


def class_name(collection: str) -> str:
    if not _NAME.match(collection):
        raise ValueError(
            f"invalid collection name {collection!r}: use lower-case letters, digits and "
            "underscores, starting with a letter, at most 48 characters"
        )
    return collection[0].upper() + collection[1:]


def description_for(dimensions: int) -> str:
    return f"cienty-knowledge dimensions={dimensions}"


def dimensions_from(description: str | None) -> int | None:
    match = _DESCRIPTION.search(description or "")
    return int(match.group(1)) if match else None


def chunk_properties(chunk: Chunk) -> dict[str, Any]:
    """A chunk as the object's properties (its id is the object's uuid)."""
    return {
        "source": chunk.source,
        "document": chunk.document,
        "title": chunk.title,
        "heading": chunk.heading,
        "text": chunk.text,
        "position": chunk.position,
        "content_hash": chunk.content_hash,
        "language": chunk.language,
    }


def chunk_from(object_id: uuid.UUID | str, properties: Mapping[str, Any]) -> Chunk:
    return Chunk(
        id=str(object_id),
        source=str(properties.get("source") or ""),
        document=str(properties.get("document") or ""),
        title=str(properties.get("title") or ""),
        heading=str(properties.get("heading") or ""),
        text=str(properties.get("text") or ""),
        position=int(properties.get("position") or 0),
        content_hash=str(properties.get("content_hash") or ""),
        language=str(properties.get("language") or "pt"),
    )


def filter_conditions(**equal: str | None) -> list[tuple[str, str]]:
    """The (property, value) equalities a search or count filters on; None means no filter."""
    return [(name, value) for name, value in equal.items() if value is not None]


def build_filter(conditions: Sequence[tuple[str, str]]) -> Any:
    """The client's `Filter` for the conditions (all must hold), or None."""
    from weaviate.classes.query import Filter

    filters = [Filter.by_property(name).equal(value) for name, value in conditions]
    if not filters:
        return None
    return filters[0] if len(filters) == 1 else Filter.all_of(filters)


def vector_score(distance: float | None) -> float:
    """Cosine distance (0..2) → score in [0, 1]."""
    return 0.0 if distance is None else max(0.0, min(1.0, 1.0 - distance / 2.0))


def bm25_score(score: float | None) -> float:
    """BM25 (0..∞) → score in [0, 1)."""
    value = max(0.0, score or 0.0)
    return value / (value + 1.0)


def alpha_for(mode: str) -> float:
    if mode == "hybrid":
        return HYBRID_ALPHA
    if mode == "keyword":
        return 0.0
    raise ValueError(f"unknown search mode {mode!r}: use 'vector', 'hybrid' or 'keyword'")


def connection_params(url: str, grpc_port: int | None = None) -> dict[str, Any]:
    """`use_async_with_custom` arguments for a Weaviate URL: HTTP from the URL, gRPC on the
    same host, port `grpc_port` (default 50051, or 443 when the URL is https without a port
    — a managed endpoint serving both on one TLS port), secure when the URL is https."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CIENTY_WEAVIATE_URL must be an http(s) URL, got {url!r}")
    secure = parts.scheme == "https"
    http_port = parts.port or (443 if secure else 80)
    if grpc_port is None:
        grpc_port = 443 if secure and parts.port is None else DEFAULT_GRPC_PORT
    return {
        "http_host": parts.hostname,
        "http_port": http_port,
        "http_secure": secure,
        "grpc_host": parts.hostname,
        "grpc_port": grpc_port,
        "grpc_secure": secure,
    }


class WeaviateStore:
    """`VectorStore` on Weaviate (see the module docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._dimensions: dict[str, int] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        grpc_port: int | None = None,
        timeout_s: float = 10.0,
    ) -> WeaviateStore:
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Auth, Timeout
        from weaviate.exceptions import WeaviateBaseError

        client = weaviate.use_async_with_custom(
            **connection_params(url, grpc_port),
            auth_credentials=Auth.api_key(api_key) if api_key else None,
            additional_config=AdditionalConfig(
                timeout=Timeout(init=timeout_s, query=timeout_s * 3, insert=timeout_s * 6)
            ),
        )
        try:
            await client.connect()
        except (WeaviateBaseError, OSError) as error:
            await client.close()
            raise StoreUnavailable(
                f"cannot reach Weaviate at {url}: {type(error).__name__}: {error}"
            ) from error
        return cls(client)

    async def __aenter__(self) -> WeaviateStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()

    # -- collections --------------------------------------------------------------------------

    async def ensure_collection(self, collection: str, dimensions: int) -> None:
        from weaviate.classes.config import (
            Configure,
            DataType,
            Property,
            Tokenization,
            VectorDistances,
        )
        from weaviate.exceptions import UnexpectedStatusCodeError

        name = class_name(collection)
        if dimensions < 1:
            raise ValueError(f"dimensions must be positive, got {dimensions}")
        if not await self._client.collections.exists(name):
            properties = [
                Property(
                    name=prop,
                    data_type=DataType.TEXT,
                    tokenization=(
                        Tokenization.FIELD if prop in FIELD_PROPERTIES else Tokenization.WORD
                    ),
                    index_searchable=prop not in FIELD_PROPERTIES,
                    index_filterable=True,
                )
                for prop in TEXT_PROPERTIES
            ]
            properties.append(Property(name="position", data_type=DataType.INT))
            try:
                await self._client.collections.create(
                    name,
                    description=description_for(dimensions),
                    properties=properties,
                    vector_config=Configure.Vectors.self_provided(
                        vector_index_config=Configure.VectorIndex.hnsw(
                            distance_metric=VectorDistances.COSINE
                        )
                    ),
                )
            except UnexpectedStatusCodeError as error:
                # Another worker created it between our check and our create.
                if error.status_code != 422 or not await self._client.collections.exists(name):
                    raise
        config = await self._client.collections.use(name).config.get()
        recorded = dimensions_from(config.description)
        if recorded is not None and recorded != dimensions:
            raise ValueError(
                f"collection {collection!r} holds {recorded}-dimensional vectors, not "
                f"{dimensions}: an embedding model of another size needs another collection"
            )
        self._dimensions[collection] = dimensions if recorded is None else recorded

    async def _collection(self, collection: str) -> Any:
        name = class_name(collection)
        if collection not in self._dimensions:
            if not await self._client.collections.exists(name):
                raise LookupError(f"collection {collection!r} does not exist: ingest into it first")
            config = await self._client.collections.use(name).config.get()
            recorded = dimensions_from(config.description)
            self._dimensions[collection] = recorded or 0
        return self._client.collections.use(name)

    # -- writes -------------------------------------------------------------------------------

    async def upsert(self, collection: str, chunks: Sequence[EmbeddedChunk]) -> None:
        from weaviate.classes.data import DataObject

        if not chunks:
            return
        handle = await self._collection(collection)
        dimensions = self._dimensions[collection]
        objects = []
        for item in chunks:
            if dimensions and len(item.vector) != dimensions:
                raise ValueError(
                    f"chunk {item.chunk.id} has a {len(item.vector)}-dimensional vector; "
                    f"collection {collection!r} holds {dimensions}"
                )
            objects.append(
                DataObject(
                    uuid=item.chunk.id,
                    properties=chunk_properties(item.chunk),
                    vector=[float(x) for x in item.vector],
                )
            )
        for start in range(0, len(objects), _PAGE):
            batch = objects[start : start + _PAGE]
            result = await handle.data.insert_many(batch)
            if result.has_errors:
                first = next(iter(result.errors.values()))
                raise RuntimeError(
                    f"Weaviate refused {len(result.errors)} of {len(batch)} objects: "
                    f"{first.message}"
                )

    async def chunk_ids(
        self, collection: str, source: str, document: str | None = None
    ) -> set[str]:
        handle = await self._collection(collection)
        where = build_filter(filter_conditions(source=source, document=document))
        ids: set[str] = set()
        offset = 0
        while True:
            page = await handle.query.fetch_objects(
                filters=where, limit=_PAGE, offset=offset, return_properties=[]
            )
            ids.update(str(obj.uuid) for obj in page.objects)
            if len(page.objects) < _PAGE:
                return ids
            offset += _PAGE

    async def delete(self, collection: str, ids: Iterable[str]) -> int:
        from weaviate.classes.query import Filter

        wanted = sorted(set(ids))
        if not wanted:
            return 0
        handle = await self._collection(collection)
        deleted = 0
        for start in range(0, len(wanted), _PAGE):
            result = await handle.data.delete_many(
                where=Filter.by_id().contains_any(wanted[start : start + _PAGE])
            )
            deleted += int(result.successful)
        return deleted

    async def delete_source(self, collection: str, source: str) -> int:
        handle = await self._collection(collection)
        result = await handle.data.delete_many(where=build_filter([("source", source)]))
        return int(result.successful)

    async def count(self, collection: str, source: str | None = None) -> int:
        handle = await self._collection(collection)
        result = await handle.aggregate.over_all(
            total_count=True, filters=build_filter(filter_conditions(source=source))
        )
        return int(result.total_count or 0)

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
        from weaviate.classes.query import HybridFusion, MetadataQuery

        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
        handle = await self._collection(collection)
        where = build_filter(filter_conditions(source=source, language=language))
        dimensions = self._dimensions[collection]
        if mode != "keyword" and dimensions and len(vector) != dimensions:
            raise ValueError(
                f"query vector has {len(vector)} dimensions; collection {collection!r} "
                f"holds {dimensions}"
            )
        if mode == "vector":
            result = await handle.query.near_vector(
                near_vector=[float(x) for x in vector],
                limit=k,
                filters=where,
                return_metadata=MetadataQuery(distance=True),
            )
            return [
                SearchHit(chunk_from(o.uuid, o.properties), vector_score(o.metadata.distance))
                for o in result.objects
            ]
        if mode == "keyword":
            result = await handle.query.bm25(
                query=query,
                query_properties=BM25_PROPERTIES,
                limit=k,
                filters=where,
                return_metadata=MetadataQuery(score=True),
            )
            return [
                SearchHit(chunk_from(o.uuid, o.properties), bm25_score(o.metadata.score))
                for o in result.objects
            ]
        alpha = alpha_for(mode)
        result = await handle.query.hybrid(
            query=query,
            vector=[float(x) for x in vector],
            alpha=alpha,
            query_properties=BM25_PROPERTIES,
            fusion_type=HybridFusion.RELATIVE_SCORE,
            limit=k,
            filters=where,
            return_metadata=MetadataQuery(score=True),
        )
        return [
            SearchHit(chunk_from(o.uuid, o.properties), float(o.metadata.score or 0.0))
            for o in result.objects
        ]
