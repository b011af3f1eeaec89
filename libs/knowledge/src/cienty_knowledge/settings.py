"""Knowledge base configuration, from `CIENTY_*` variables."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KnowledgeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CIENTY_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    vector_backend: Literal["pgvector", "weaviate"] = "pgvector"
    # pgvector: the knowledge base's PostgreSQL (a plain libpq URL, as for commerce).
    database_url: str = "postgresql://postgres@localhost:5432/cienty_knowledge"
    weaviate_url: AnyHttpUrl | None = None
    weaviate_api_key: SecretStr | None = None
    # Weaviate's gRPC port on the same host; unset: 50051 (443 for an https URL without a port).
    weaviate_grpc_port: int | None = Field(default=None, ge=1, le=65535)
    # The Ray Serve embeddings application (OpenAI-compatible), e.g.
    # http://llm-serve-svc:8000/embeddings/v1; unset: the packaged MiniLM in-process.
    embedding_url: AnyHttpUrl | None = None
    embedding_model: str = "bge-m3"
    embedding_batch_size: int = Field(default=32, ge=1, le=1024)
    knowledge_collection: str = Field(default="cienty_knowledge", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    chunk_max_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap_tokens: int = Field(default=40, ge=0)
