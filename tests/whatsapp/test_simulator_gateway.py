"""The simulator against the gateway's own webhook (real Redis): its signature verifies, its
payloads validate as Meta's, and each becomes the inbound item the worker expects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis

from cienty_dev.embedded import EmbeddedRedis
from cienty_whatsapp import graph, keys
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.items import InboundItem
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.simulator.app import Simulator, create_simulator_app
from cienty_whatsapp.simulator.customers import DEMO_CUSTOMERS
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState
from cienty_whatsapp.webhook.app import create_webhook_app

APP_SECRET = "simulator-and-gateway-share-this"
PHONE_NUMBER_ID = "106540352242922"
PARTITIONS = 4
ANA = DEMO_CUSTOMERS[0]


@dataclass
class Loop:
    page: httpx.AsyncClient
    graph: GraphClient
    simulator: Simulator
    redis: Redis

    async def items(self) -> list[InboundItem]:
        found: list[InboundItem] = []
        for partition in range(PARTITIONS):
            entries = await self.redis.xrange(keys.inbound_stream(partition)) or []
            for _, fields in entries:
                assert fields is not None
                found.append(InboundItem.from_json(fields[b"item"]))
        return found


@pytest.fixture
async def loop(redis_server: EmbeddedRedis) -> AsyncIterator[Loop]:
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    settings = GatewaySettings(
        environment="test",
        redis_url=redis_server.url,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        inbound_partitions=PARTITIONS,
    )
    gateway = create_webhook_app(settings, redis)
    app = create_simulator_app(
        GraphState(),
        gateway_url="http://gateway.test",
        app_secret=APP_SECRET,
        phone_number_id=PHONE_NUMBER_ID,
        customers=list(DEMO_CUSTOMERS),
        gateway_transport=httpx.ASGITransport(app=gateway),
        report_statuses=False,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator.test") as page:
        client = GraphClient(
            f"http://simulator.test/graph/{VERSION}", PHONE_NUMBER_ID, "t", transport=transport
        )
        yield Loop(page, client, app.state.simulator, redis)
        await client.aclose()
    await app.state.simulator.aclose()
    await redis.flushdb()
    await redis.aclose()


async def test_every_kind_the_simulator_sends_is_accepted_and_parsed(loop: Loop) -> None:
    async def say(**body: object) -> str:
        response = await loop.page.post(f"/api/chats/{ANA.wa_id}/messages", json=body)
        assert response.status_code == 200, response.text
        wamid: str = response.json()["id"]
        return wamid

    offer = await loop.graph.send(
        graph.buttons_message(ANA.phone, "Confirma?", [("confirm:7", "Confirmar")])
    )
    text = await say(text="Oi, tem dipirona?")
    button = await say(
        reply={"type": "button_reply", "id": "confirm:7", "title": "Confirmar", "context": offer}
    )
    row = await say(reply={"type": "list_reply", "id": "sku:42", "title": "Dipirona 500 mg"})
    image = await say(image={"caption": "receita"})
    assert await loop.simulator.report_statuses() is True
    read = await loop.page.post(f"/api/chats/{ANA.wa_id}/read", json={"ids": [offer]})
    assert read.json() == {"read": 1}

    items = {(item.kind, item.id, item.status): item for item in await loop.items()}
    messages = [items[("message", wamid, "")] for wamid in (text, button, row, image)]
    for item in messages:
        assert item.wa_id == ANA.wa_id
        assert item.profile_name == ANA.name
        assert item.phone_number_id == PHONE_NUMBER_ID
    assert (messages[0].type, messages[0].text) == ("text", "Oi, tem dipirona?")
    assert (messages[1].type, messages[1].interactive_reply_id) == ("interactive", "confirm:7")
    assert messages[2].interactive_reply_id == "sku:42"
    [media] = messages[3].media
    assert (messages[3].type, media.kind, media.mime_type) == ("image", "image", "image/png")
    assert media.caption == "receita"
    # The gateway's sends, answered like WhatsApp answers them.
    assert [items[("status", offer, s)].status for s in ("sent", "delivered", "read")] == [
        "sent",
        "delivered",
        "read",
    ]
    assert items[("status", offer, "read")].wa_id == ANA.wa_id
