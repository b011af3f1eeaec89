"""Real PostgreSQL and Redis for the whole suite, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cienty_commerce.migrations.runner import upgrade
from cienty_conversations.migrations.runner import upgrade as upgrade_conversations
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis
from cienty_knowledge.embeddings.local import LocalEmbedder, load_sentence_transformer


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres: EmbeddedPostgres) -> str:
    url = postgres.database_url("cienty_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def conversations_database_url(postgres: EmbeddedPostgres) -> str:
    url = postgres.database_url("cienty_conversations_test")
    upgrade_conversations(url)
    return url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def minilm_model() -> Any:
    """The packaged MiniLM SentenceTransformer, loaded once per session (several seconds)."""
    return load_sentence_transformer()


@pytest.fixture(scope="session")
def minilm(minilm_model: Any) -> LocalEmbedder:
    return LocalEmbedder(model=minilm_model, batch_size=16)
