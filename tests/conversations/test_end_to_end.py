"""Commerce + conversations + knowledge, each on its real storage (PostgreSQL, pgvector,
Redis), talking gRPC and Redis Streams as deployed, with a scripted model behind the OpenAI
wire format: a customer asks for a product, confirms, the order exists once in commerce, the
policy answer cites the real knowledge base, and a shipped order is told exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from cienty.commerce.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
)
from cienty.conversations.v1 import conversations_pb2 as pb
from cienty.conversations.v1 import conversations_pb2_grpc
from cienty_commerce.repository.tables import Base as CommerceBase
from cienty_commerce.server import commerce_app
from cienty_commerce.settings import CommerceSettings
from cienty_conversations.clients.knowledge import KnowledgeBase
from cienty_conversations.domain import replies
from cienty_conversations.repository.tables import Base as ConversationsBase
from cienty_conversations.server import conversations_app
from cienty_conversations.settings import ConversationsSettings
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis
from cienty_kit.grpc.client import service_channel
from cienty_knowledge.embeddings.local import LocalEmbedder
from cienty_knowledge.ingest import ingest
from cienty_knowledge.search import KnowledgeSearch
from cienty_knowledge.spec import KnowledgeSourceSpec
from cienty_knowledge.store.pgvector import PgVectorStore
from cienty_llm.factory import build_llm_client
from cienty_llm.settings import LLMSettings
from tests.conversations.conftest import TOKEN
from tests.fakes import FakeOpenAIServer
from tests.fakes.scripting import Reply, ToolCall
from tests.support import truncate

MODEL = "llama-3.1-8b-instruct"
PHONE = "+5511912340000"
COLLECTION = "e2e_knowledge"


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(MODEL) as server:
        yield server


@pytest.fixture(scope="module")
async def knowledge(
    postgres: EmbeddedPostgres, minilm: LocalEmbedder, repo_root: Path
) -> AsyncIterator[KnowledgeBase]:
    store = PgVectorStore.from_url(postgres.database_url("cienty_e2e_knowledge"), pool_size=2)
    spec = KnowledgeSourceSpec.model_validate(
        {
            "source": {"directory": {"path": str(repo_root / "knowledge/samples/distribuidora")}},
            "include": ["*.md"],
            "collection": COLLECTION,
        }
    )
    report = await ingest("amostra", spec, store=store, embedder=minilm)
    assert report.documents_failed == []
    yield KnowledgeBase(KnowledgeSearch(store, minilm, COLLECTION))
    await store.close()


@dataclass
class Platform:
    conversations: conversations_pb2_grpc.ConversationServiceAsyncStub
    customers: customers_pb2_grpc.CustomerServiceAsyncStub
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    orders: orders_pb2_grpc.OrderServiceAsyncStub
    redis: Redis


@pytest.fixture
async def platform(
    database_url: str,
    conversations_database_url: str,
    redis_server: EmbeddedRedis,
    model_server: FakeOpenAIServer,
    knowledge: KnowledgeBase,
) -> AsyncIterator[Platform]:
    model_server.reset()
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    commerce_settings = CommerceSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_server.url,
        service_token=TOKEN,
        grpc_host="127.0.0.1",
        grpc_port=0,
        outbox_poll_seconds=0.05,
    )
    # Empty tables before anything runs: other suites leave commerce events unpublished, which
    # the relay would otherwise send to the notifier.
    await truncate(database_url, CommerceBase)
    await truncate(conversations_database_url, ConversationsBase)
    async with commerce_app(commerce_settings) as commerce:
        commerce_port = await commerce.server.start()
        settings = ConversationsSettings(
            environment="test",
            database_url=conversations_database_url,
            redis_url=redis_server.url,
            service_token=TOKEN,
            grpc_host="127.0.0.1",
            grpc_port=0,
            commerce_addr=f"127.0.0.1:{commerce_port}",
            outbox_poll_seconds=0.05,
            knowledge_database_url="",
        )
        model = build_llm_client(
            LLMSettings(primary_url=model_server.url + "/v1", primary_model=MODEL)
        )
        async with conversations_app(settings, model=model, knowledge=knowledge) as app:
            port = await app.server.start()
            staff = service_channel(f"127.0.0.1:{commerce_port}", TOKEN, actor="staff:logistica")
            gateway = service_channel(f"127.0.0.1:{port}", TOKEN, actor="whatsapp-gateway")
            yield Platform(
                conversations=conversations_pb2_grpc.ConversationServiceStub(gateway),
                customers=customers_pb2_grpc.CustomerServiceStub(staff),
                catalog=catalog_pb2_grpc.CatalogServiceStub(staff),
                orders=orders_pb2_grpc.OrderServiceStub(staff),
                redis=redis,
            )
            await gateway.close(None)
            await staff.close(None)
            await app.server.stop(0)
        await model.aclose()
        await commerce.server.stop(0)
    await redis.aclose()


def whatsapp(text: str, external_id: str, reply_id: str = "") -> pb.InboundMessage:
    return pb.InboundMessage(
        channel=pb.CHANNEL_WHATSAPP,
        external_id=external_id,
        from_phone=PHONE.lstrip("+"),
        text=text,
        interactive_reply_id=reply_id,
    )


async def outbound(redis: Redis) -> list[dict[str, str]]:
    entries: Any = await redis.xrange("conversations.outbound")
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def wait_for(redis: Redis, predicate: Any, seconds: float = 15) -> list[dict[str, str]]:
    for _ in range(int(seconds / 0.1)):
        entries = await outbound(redis)
        if predicate(entries):
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out; outbound stream: {await outbound(redis)}")


async def test_ask_confirm_order_once_and_hear_it_shipped_once(
    platform: Platform, model_server: FakeOpenAIServer
) -> None:
    customer = await platform.customers.CreateCustomer(
        customers_pb2.CreateCustomerRequest(
            request_id="e2e-customer",
            cnpj="11222333000181",
            legal_name="Drogaria Ponta Ltda.",
            trade_name="Drogaria Ponta",
            phone=PHONE,
            state="SP",
            city="São Paulo",
        )
    )
    await platform.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            sku="DIP-500",
            name="Dipirona Sódica 500 mg 10 comprimidos",
            active_ingredient="dipirona sódica",
            manufacturer="EMS",
            unit_price_cents=450,
            stock_quantity=100,
        )
    )

    # 1. The question: the model searches, proposes, and answers with commerce's price.
    model_server.enqueue(
        Reply(tool_calls=[ToolCall("search_products", {"query": "dipirona"})]),
        Reply(
            tool_calls=[ToolCall("create_order", {"items": [{"sku": "DIP-500", "quantity": 10}]})]
        ),
        Reply("A Dipirona Sódica 500 mg sai por R$ 4,50 a caixa. Separei 10 caixas."),
    )
    reply = await platform.conversations.HandleMessage(
        whatsapp("quanto está a dipirona? manda 10 caixas", "wamid.e2e.1"), timeout=20
    )
    answer, summary = reply.messages
    assert answer.text == "A Dipirona Sódica 500 mg sai por R$ 4,50 a caixa. Separei 10 caixas."
    assert "Total: R$ 45,00" in summary.text
    requests = [r.body for r in model_server.scripted_requests]
    search_result = json.loads(requests[1]["messages"][-1]["content"])
    assert search_result["products"][0]["sku"] == "DIP-500"  # from commerce, over gRPC
    assert {t["function"]["name"] for t in requests[0]["tools"]} >= {
        "create_order",
        "search_knowledge",
    }

    # 2. The confirmation, twice (a retried webhook, then the button tapped again).
    confirm = summary.buttons[0].id
    placed = await platform.conversations.HandleMessage(
        whatsapp("", "wamid.e2e.2", confirm), timeout=20
    )
    again = await platform.conversations.HandleMessage(
        whatsapp("", "wamid.e2e.2", confirm), timeout=20
    )
    tapped = await platform.conversations.HandleMessage(
        whatsapp("", "wamid.e2e.3", confirm), timeout=20
    )
    assert again == placed
    orders = await platform.orders.ListOrders(orders_pb2.ListOrdersRequest(customer_id=customer.id))
    [order] = orders.orders
    assert order.total_cents == 4500
    assert order.channel == orders_pb2.CHANNEL_WHATSAPP
    assert placed.messages[0].text == replies.order_placed(order.id, 4500)
    assert tapped.messages[0].text == replies.order_already_placed(order.id)

    # 3. A policy question answered from the real knowledge base, with its source.
    model_server.enqueue(
        Reply(tool_calls=[ToolCall("search_knowledge", {"query": "valor do pedido mínimo"})]),
        Reply("O pedido mínimo é de R$ 500,00 por CNPJ [K1]."),
    )
    policy = await platform.conversations.HandleMessage(
        whatsapp("qual o pedido mínimo?", "wamid.e2e.4"), timeout=20
    )
    knowledge_result = json.loads(
        model_server.scripted_requests[-1].body["messages"][-1]["content"]
    )
    assert knowledge_result["results"][0]["title"] == "Pedido mínimo e condições comerciais"
    assert "R$ 500,00" in knowledge_result["results"][0]["text"]
    assert policy.messages[0].text.startswith("O pedido mínimo é de R$ 500,00 por CNPJ.")
    assert "📄 Fonte: Pedido mínimo e condições comerciais" in policy.messages[0].text

    # 4. Logistics moves the order along in commerce; the customer hears of each step once.
    for status in (
        orders_pb2.ORDER_STATUS_CONFIRMED,
        orders_pb2.ORDER_STATUS_INVOICED,
        orders_pb2.ORDER_STATUS_SHIPPED,
    ):
        await platform.orders.UpdateOrderStatus(
            orders_pb2.UpdateOrderStatusRequest(id=order.id, status=status)
        )
    shipped_text = replies.order_update("shipped", order.id, 4500)
    await wait_for(platform.redis, lambda entries: any(e["text"] == shipped_text for e in entries))
    await asyncio.sleep(1)  # anything duplicated would arrive by now
    entries = await outbound(platform.redis)
    notifications = [e["text"] for e in entries if e["author"] == "system"]
    assert notifications == [replies.order_update("confirmed", order.id, 4500), shipped_text]
    assert all(e["to"] == PHONE for e in entries)
    assert [e["author"] for e in entries] == ["agent"] * 5 + ["system"] * 2
