"""Embedders: the packaged MiniLM in-process, and an OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cienty_knowledge.embeddings import local as local_module
from cienty_knowledge.embeddings.factory import build_embedder, close_embedder, prepare_embedder
from cienty_knowledge.embeddings.local import LocalEmbedder
from cienty_knowledge.embeddings.remote import EmbeddingError, RemoteEmbedder
from cienty_knowledge.settings import KnowledgeSettings
from tests.fakes.server import BackgroundServer

TEXTS = [
    "Qual é o prazo de entrega para o interior?",
    "Aceitamos PIX e boleto com prazo de 28 dias.",
    "Medicamentos controlados exigem receita retida.",
    "O pedido mínimo é de quinhentos reais.",
    "Entregas para capitais chegam em 24 horas.",
]


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- local ----------------------------------------------------------------------------------


async def test_local_dimensions_normalised_vectors(minilm: LocalEmbedder) -> None:
    assert minilm.dimensions == 384
    assert minilm.max_tokens == 254  # 256 positions less [CLS] and [SEP]
    assert minilm.model == "sentence-transformers/all-MiniLM-L6-v2"
    vectors = await minilm.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    for vector in vectors:
        assert len(vector) == 384
        assert _norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert await minilm.embed([]) == []


async def test_local_batching_keeps_order(minilm: LocalEmbedder) -> None:
    # 40 texts of very different lengths over batches of 16 (sorted by length inside encode).
    texts = [f"{TEXTS[i % 5]} " + "detalhe " * (i * 7 % 23) for i in range(40)]
    together = await minilm.embed(texts)
    one_by_one = [(await minilm.embed([text]))[0] for text in texts[::7]]
    for index, single in zip(range(0, 40, 7), one_by_one, strict=True):
        assert _cosine(together[index], single) == pytest.approx(1.0, abs=1e-4)
    assert _cosine(together[0], together[1]) < 0.999


async def test_local_vectors_carry_meaning(minilm: LocalEmbedder) -> None:
    query, delivery, payment = await minilm.embed(
        ["delivery time", "Deliveries to the capitals arrive within 24 hours.",
         "We accept bank slips and instant payments."]
    )  # fmt: skip
    assert _cosine(query, delivery) > _cosine(query, payment)


async def test_local_encode_does_not_block_the_event_loop(minilm: LocalEmbedder) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await minilm.embed(["texto bem longo sobre entregas e prazos " * 20] * 48)
    finally:
        task.cancel()
    assert ticks > 3


def test_local_counts_tokens_without_special_tokens(minilm: LocalEmbedder) -> None:
    assert minilm.count_tokens("") == 0
    assert minilm.count_tokens("entrega") == 3  # en ##tre ##ga
    long_text = "palavra " * 300
    assert minilm.count_tokens(long_text) == 300 * minilm.count_tokens("palavra")  # no cap


# -- remote ---------------------------------------------------------------------------------


def _fake_vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 100) / 10 for i in range(dimensions)]  # not normalised


@dataclass
class FakeEmbeddings:
    """`POST /v1/embeddings` as vLLM serves it; `failures` are answered first, in order."""

    model: str = "BAAI/bge-m3"
    dimensions: int = 12
    failures: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        if self.failures:
            status = self.failures.pop(0)
            return JSONResponse({"error": {"message": "nope", "code": status}}, status_code=status)
        texts = body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": _fake_vector(t, self.dimensions)}
            for i, t in enumerate(texts)
        ]
        return JSONResponse(
            {
                "object": "list",
                "model": self.model,
                "data": data[::-1],  # any order: the client sorts by index
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            }
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/embeddings", self.embeddings, methods=["POST"])])


@pytest.fixture
def fake() -> FakeEmbeddings:
    return FakeEmbeddings()


@pytest.fixture
def endpoint(fake: FakeEmbeddings) -> Iterator[str]:
    with BackgroundServer(fake.app()) as server:
        yield server.url + "/v1"


async def test_remote_discovers_model_and_dimensions(fake: FakeEmbeddings, endpoint: str) -> None:
    embedder = RemoteEmbedder(endpoint, model="bge-m3", backoff_s=0.01)
    assert embedder.dimensions == 0
    await embedder.discover()
    assert (embedder.model, embedder.dimensions) == ("BAAI/bge-m3", 12)
    assert fake.requests[0]["model"] == "bge-m3"
    assert fake.requests[0]["encoding_format"] == "float"
    await embedder.discover()
    assert len(fake.requests) == 1  # once only
    await embedder.close()


async def test_remote_batches_in_order_and_normalises(fake: FakeEmbeddings, endpoint: str) -> None:
    embedder = RemoteEmbedder(endpoint, model="bge-m3", batch_size=32)
    texts = [f"documento {i}" for i in range(70)]
    vectors = await embedder.embed(texts)
    assert [len(r["input"]) for r in fake.requests] == [32, 32, 6]
    assert len(vectors) == 70
    for text, vector in zip(texts, vectors, strict=True):
        raw = _fake_vector(text, 12)
        assert _norm(vector) == pytest.approx(1.0)
        assert vector == pytest.approx([v / _norm(raw) for v in raw])
    await embedder.close()


async def test_remote_retries_5xx_and_429(fake: FakeEmbeddings, endpoint: str) -> None:
    fake.failures = [503, 429, 500]
    embedder = RemoteEmbedder(endpoint, model="bge-m3", attempts=4, backoff_s=0.01)
    assert len(await embedder.embed(["a", "b"])) == 2
    assert len(fake.requests) == 4
    await embedder.close()


async def test_remote_gives_up_after_bounded_attempts(fake: FakeEmbeddings, endpoint: str) -> None:
    fake.failures = [503] * 10
    embedder = RemoteEmbedder(endpoint, model="bge-m3", attempts=3, backoff_s=0.01)
    with pytest.raises(EmbeddingError, match="HTTP 503"):
        await embedder.embed(["a"])
    assert len(fake.requests) == 3
    await embedder.close()


async def test_remote_does_not_retry_a_client_error(fake: FakeEmbeddings, endpoint: str) -> None:
    fake.failures = [400, 400]
    embedder = RemoteEmbedder(endpoint, model="wrong-model", attempts=4, backoff_s=0.01)
    with pytest.raises(EmbeddingError, match="HTTP 400"):
        await embedder.embed(["a"])
    assert len(fake.requests) == 1
    await embedder.close()


async def test_remote_unreachable_is_an_embedding_error() -> None:
    server = BackgroundServer(FakeEmbeddings().app())
    server.start()
    url = server.url + "/v1"
    server.stop()  # nothing listens there now
    embedder = RemoteEmbedder(url, model="bge-m3", attempts=2, backoff_s=0.01)
    with pytest.raises(EmbeddingError, match="APIConnectionError"):
        await embedder.embed(["a"])
    await embedder.close()


# -- factory --------------------------------------------------------------------------------


async def test_factory_remote_when_url_set(fake: FakeEmbeddings, endpoint: str) -> None:
    settings = KnowledgeSettings(embedding_url=endpoint, embedding_model="bge-m3",
                                 embedding_batch_size=8)  # fmt: skip
    embedder = build_embedder(settings)
    assert isinstance(embedder, RemoteEmbedder)
    await prepare_embedder(embedder)
    assert embedder.dimensions == 12
    await close_embedder(embedder)


async def test_factory_local_by_default(minilm_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module, "load_sentence_transformer", lambda *_: minilm_model)
    embedder = build_embedder(KnowledgeSettings(embedding_url=None))
    assert isinstance(embedder, LocalEmbedder)
    await prepare_embedder(embedder)  # nothing to discover
    assert embedder.dimensions == 384
    await close_embedder(embedder)
