"""The whole road: a signed Cloud API webhook → the gateway's webhook → its inbound worker →
conversations (real, with commerce over gRPC, on PostgreSQL and Redis) → the outbound stream
→ the gateway's sender → the (stand-in) Graph API. A pharmacy writing from an old WhatsApp
account (a wa_id without Brazil's ninth digit) asks for a product, taps Confirmar, and gets
its order confirmed once, even when Meta redelivers the webhook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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
from cienty_commerce.repository.tables import Base as CommerceBase
from cienty_commerce.server import commerce_app
from cienty_commerce.settings import CommerceSettings
from cienty_conversations.repository.tables import Base as ConversationsBase
from cienty_conversations.server import conversations_app
from cienty_conversations.settings import ConversationsSettings
from cienty_dev.embedded import EmbeddedRedis
from cienty_kit.grpc.client import service_channel
from cienty_whatsapp import keys
from cienty_whatsapp.conversations import ConversationsClient
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.inbound.media import FileMediaStore
from cienty_whatsapp.inbound.worker import InboundWorker
from cienty_whatsapp.outbound.sender import OutboundSender
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.simulator import payloads
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState, create_graph_api
from cienty_whatsapp.webhook.app import create_webhook_app
from tests.conversations.scripted import Say, ScriptedModel, call
from tests.support import truncate

TOKEN = "test-service-token-0123456789"
APP_SECRET = "e2e-app-secret"
PHONE_NUMBER_ID = "100000000000001"
WA_ID = "551187654321"  # +55 11 98765-4321 on an account from before the ninth digit
PHONE = "+5511987654321"


@dataclass
class Road:
    post: Callable[[dict[str, Any]], Awaitable[httpx.Response]]
    graph: GraphState
    model: ScriptedModel
    orders: orders_pb2_grpc.OrderServiceAsyncStub
    customer_id: str
    redis: Redis


@pytest.fixture
async def road(
    database_url: str,
    conversations_database_url: str,
    redis_server: EmbeddedRedis,
    tmp_path: Path,
) -> AsyncIterator[Road]:
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    await truncate(database_url, CommerceBase)
    await truncate(conversations_database_url, ConversationsBase)
    common: dict[str, Any] = {
        "environment": "test",
        "redis_url": redis_server.url,
        "service_token": TOKEN,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
    }
    commerce_settings = CommerceSettings(
        **common, database_url=database_url, outbox_poll_seconds=0.05
    )
    async with commerce_app(commerce_settings) as commerce:
        commerce_port = await commerce.server.start()
        staff = service_channel(f"127.0.0.1:{commerce_port}", TOKEN, actor="staff:test")
        customer = await customers_pb2_grpc.CustomerServiceStub(staff).CreateCustomer(
            customers_pb2.CreateCustomerRequest(
                request_id="e2e-wa",
                cnpj="11222333000181",
                legal_name="Drogaria Antiga Ltda.",
                trade_name="Drogaria Antiga",
                phone=PHONE,
                state="SP",
                city="São Paulo",
            )
        )
        await catalog_pb2_grpc.CatalogServiceStub(staff).CreateProduct(
            catalog_pb2.CreateProductRequest(
                sku="DIP-500",
                name="Dipirona Sódica 500 mg 10 comprimidos",
                unit_price_cents=450,
                stock_quantity=100,
            )
        )
        model = ScriptedModel()
        conversations_settings = ConversationsSettings(
            **common,
            database_url=conversations_database_url,
            commerce_addr=f"127.0.0.1:{commerce_port}",
            outbox_poll_seconds=0.05,
            knowledge_database_url="",
        )
        async with conversations_app(
            conversations_settings, model=model, use_knowledge_settings=False
        ) as conversations:
            conversations_port = await conversations.server.start()
            graph_state = GraphState(access_token="e2e-access-token")
            settings = GatewaySettings(
                environment="test",
                redis_url=redis_server.url,
                service_token=TOKEN,
                whatsapp_app_secret=APP_SECRET,
                whatsapp_access_token="e2e-access-token",
                whatsapp_phone_number_id=PHONE_NUMBER_ID,
                whatsapp_graph_url=f"http://graph.test/{VERSION}",
                conversations_addr=f"127.0.0.1:{conversations_port}",
                inbound_partitions=4,
                pace_seconds=0.05,
                retry_base_seconds=0.05,
                retry_max_seconds=0.5,
                media_dir=str(tmp_path / "media"),
            )
            graph = GraphClient(
                str(settings.whatsapp_graph_url),
                PHONE_NUMBER_ID,
                "e2e-access-token",
                transport=httpx.ASGITransport(app=create_graph_api(graph_state)),
            )
            client = ConversationsClient(settings.conversations_addr, TOKEN)
            inbound = InboundWorker(
                settings,
                redis,
                client,
                graph,
                FileMediaStore(settings.media_dir),
                consumer="e2e",
                block_ms=50,
            )
            outbound = OutboundSender(settings, redis, graph, client, consumer="e2e", block_ms=50)
            tasks = [asyncio.create_task(inbound.run()), asyncio.create_task(outbound.run())]
            webhook = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_webhook_app(settings, redis)),
                base_url="http://gateway.test",
            )

            async def post(payload: dict[str, Any]) -> httpx.Response:
                body = payloads.encode(payload)
                return await webhook.post(
                    "/webhook",
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "x-hub-signature-256": payloads.signature(APP_SECRET, body),
                    },
                )

            yield Road(
                post=post,
                graph=graph_state,
                model=model,
                orders=orders_pb2_grpc.OrderServiceStub(staff),
                customer_id=customer.id,
                redis=redis,
            )
            inbound.stop()
            outbound.stop()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
            await webhook.aclose()
            await graph.aclose()
            await client.close()
            await conversations.server.stop(0)
        await staff.close(None)
        await commerce.server.stop(0)
    await redis.aclose()


def customer_message(wamid: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return payloads.message(
        PHONE_NUMBER_ID,
        wa_id=WA_ID,
        profile_name="Drogaria Antiga",
        wamid=wamid,
        timestamp=payloads.now(),
        type=kind,
        content=content,
    )


async def sent(graph: GraphState, count: int, seconds: float = 20) -> list[dict[str, Any]]:
    for _ in range(int(seconds / 0.05)):
        messages = graph.messages()
        if len(messages) >= count:
            return [m.payload for m in messages]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(graph.messages())} sends, expected {count}: {graph.messages()}")


async def test_a_pharmacy_orders_on_whatsapp_and_is_answered_once(road: Road) -> None:
    road.model.script(
        call("search_products", query="dipirona"),
        call("create_order", items=[{"sku": "DIP-500", "quantity": 10}]),
        Say("A Dipirona Sódica 500 mg sai por R$ 4,50 a caixa."),
    )
    question = customer_message(
        "wamid.E2E1", "text", payloads.text("quanto está a dipirona? manda 10 caixas")
    )
    assert (await road.post(question)).status_code == 200

    answer, summary = await sent(road.graph, 2)
    assert answer["to"] == PHONE
    assert answer["text"]["body"] == "A Dipirona Sódica 500 mg sai por R$ 4,50 a caixa."
    assert summary["type"] == "interactive"
    assert "Total: R$ 45,00" in summary["interactive"]["body"]["text"]
    confirm = summary["interactive"]["action"]["buttons"][0]["reply"]
    assert confirm["title"] == "Confirmar"
    assert "wamid.E2E1" in road.graph.read_receipts

    tap = customer_message(
        "wamid.E2E2", "interactive", payloads.button_reply(confirm["id"], "Confirmar")
    )
    assert (await road.post(tap)).status_code == 200
    assert (await road.post(tap)).status_code == 200  # Meta redelivers
    placed = (await sent(road.graph, 3))[2]
    assert placed["text"]["body"].startswith("Pedido #")
    await asyncio.sleep(1)  # a duplicate would have gone out by now
    assert len(road.graph.messages()) == 3
    orders = await road.orders.ListOrders(
        orders_pb2.ListOrdersRequest(customer_id=road.customer_id)
    )
    [order] = orders.orders
    assert order.total_cents == 4500

    # Meta reports the first answer delivered: the gateway records it.
    first_wamid = road.graph.messages()[0].wamid
    status = payloads.status_update(
        PHONE_NUMBER_ID,
        wamid=first_wamid,
        status="delivered",
        recipient_id=WA_ID,
        timestamp=payloads.now(),
    )
    assert (await road.post(status)).status_code == 200
    stored: Any = await road.redis.get(keys.wamid_to_message(first_wamid))
    message_id = stored.decode()
    for _ in range(100):
        delivery = await road.redis.hget(keys.outbound_state(message_id), "delivery")
        if delivery is not None:
            break
        await asyncio.sleep(0.05)
    assert delivery == b"delivered"
    assert len(road.model.requests) == 3  # the confirmation never reached the model
    assert json.loads(json.dumps(answer))  # plain JSON all the way
