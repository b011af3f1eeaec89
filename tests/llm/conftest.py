"""The client against local servers that speak the OpenAI and Anthropic wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cienty_dev.embedded import free_port
from cienty_llm.client import LLMClient
from cienty_llm.factory import build_llm_client
from cienty_llm.settings import LLMSettings
from tests.fakes import FakeAnthropicServer, FakeOpenAIServer

PRIMARY_MODEL = "llama-3.1-8b-instruct"
FALLBACK_MODEL = "claude-sonnet-5"

MakeClient = Callable[..., LLMClient]


@pytest.fixture(scope="session")
def primary_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(PRIMARY_MODEL) as server:
        yield server


@pytest.fixture(scope="session")
def fallback_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def primary(primary_server: FakeOpenAIServer) -> FakeOpenAIServer:
    primary_server.reset()
    return primary_server


@pytest.fixture
def fallback(fallback_server: FakeAnthropicServer) -> FakeAnthropicServer:
    fallback_server.reset()
    return fallback_server


@pytest.fixture
def down_url() -> str:
    """An address where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
async def make_client(
    primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> AsyncIterator[MakeClient]:
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        options: dict[str, Any] = {
            "primary_url": primary.url + "/v1",
            "primary_model": PRIMARY_MODEL,
            "fallback_model": FALLBACK_MODEL,
            "anthropic_api_key": "sk-ant-test",
            "anthropic_base_url": fallback.url,
            "connect_timeout_seconds": 1.0,
            "first_token_timeout_seconds": 2.0,
            "total_timeout_seconds": 10.0,
            "retry_backoff_seconds": 0.01,
        }
        options.update(overrides)
        client = build_llm_client(LLMSettings(**options))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
