"""The stores the contract suite runs against: pgvector always, Weaviate when its URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from cienty_knowledge.store.base import VectorStore

WEAVIATE_URL = os.environ.get("CIENTY_WEAVIATE_URL")


@pytest.fixture(
    scope="session",
    params=[
        "pgvector",
        pytest.param(
            "weaviate",
            marks=pytest.mark.skipif(
                not WEAVIATE_URL, reason="CIENTY_WEAVIATE_URL is not set: no Weaviate server"
            ),
        ),
    ],
)
async def store(
    request: pytest.FixtureRequest, knowledge_database_url: str
) -> AsyncIterator[VectorStore]:
    if request.param == "pgvector":
        from cienty_knowledge.store.pgvector import PgVectorStore

        opened: VectorStore = PgVectorStore.from_url(knowledge_database_url, pool_size=2)
    else:
        from cienty_knowledge.store.weaviate import WeaviateStore

        assert WEAVIATE_URL is not None
        opened = await WeaviateStore.connect(
            WEAVIATE_URL, api_key=os.environ.get("CIENTY_WEAVIATE_API_KEY") or None
        )
    yield opened
    await opened.close()


@pytest.fixture
def collection() -> str:
    """A fresh collection per test, so tests never see each other's chunks."""
    return f"contract_{uuid.uuid4().hex[:12]}"
