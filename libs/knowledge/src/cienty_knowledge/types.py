"""What flows through the knowledge base: documents, chunks, vectors, hits."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SearchMode = Literal["vector", "hybrid", "keyword"]
# Fixed namespace: a chunk's id depends only on what it is, so re-ingesting changes nothing.
_CHUNK_NAMESPACE = uuid.UUID("5f0c1a7e-9d2b-4c3e-8a61-3b7e2d9f4c10")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_id(source: str, document: str, position: int, text_hash: str) -> str:
    """Deterministic UUID of a chunk: (source, document, position, content hash)."""
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{source}\x1f{document}\x1f{position}\x1f{text_hash}"))


@dataclass(frozen=True)
class Document:
    """One loaded and normalised document of a source."""

    source: str  # the KnowledgeSource name (or a local name)
    uri: str  # where it came from: URL, s3://…, repository path, file path
    title: str
    text: str  # normalised text, Markdown-like headings kept ("# …")
    language: str = "pt"
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    document: str  # Document.uri
    title: str  # the document's title
    heading: str  # the heading path above the chunk, e.g. "Entrega > Prazos"
    text: str
    position: int  # order within the document
    content_hash: str
    language: str = "pt"


@dataclass(frozen=True)
class EmbeddedChunk:
    chunk: Chunk
    vector: Sequence[float]


@dataclass(frozen=True)
class SearchHit:
    """A chunk found for a query, with what a citation needs."""

    chunk: Chunk
    score: float

    def citation(self) -> dict[str, object]:
        return {
            "source": self.chunk.source,
            "document": self.chunk.document,
            "title": self.chunk.title,
            "heading": self.chunk.heading,
            "score": round(self.score, 4),
        }
