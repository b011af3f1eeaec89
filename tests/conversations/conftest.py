"""The conversations service on the session's PostgreSQL and Redis, with an in-memory
commerce and knowledge base and a scripted model; each test starts from empty tables."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from cienty_conversations.domain.conversations import Channel, Inbound
from cienty_conversations.evaluation.memory import (
    InMemoryCommerce,
    InMemoryKnowledge,
    KnowledgeDocument,
)
from cienty_conversations.ports import CustomerInfo, OrderInfo, OrderLineInfo, ProductInfo
from cienty_conversations.repository.tables import Base
from cienty_conversations.server import ConversationsApp, conversations_app
from cienty_conversations.service.conversations import ConversationService
from cienty_conversations.settings import ConversationsSettings
from cienty_dev.embedded import EmbeddedRedis
from tests.conversations.scripted import ScriptedModel

TOKEN = "test-service-token-0123456789"
PHONE = "+5511987654321"
OTHER_PHONE = "+5521912345678"
STRANGER_PHONE = "+5531999990000"
CUSTOMER_ID = "11111111-1111-1111-1111-111111111111"
OTHER_CUSTOMER_ID = "22222222-2222-2222-2222-222222222222"
MY_ORDER_ID = "aaaaaaaa-0000-4000-8000-000000000001"
OTHER_ORDER_ID = "bbbbbbbb-0000-4000-8000-000000000002"


@pytest.fixture(scope="session")
def conversations_settings(
    conversations_database_url: str, redis_server: EmbeddedRedis
) -> ConversationsSettings:
    return ConversationsSettings(
        environment="test",
        database_url=conversations_database_url,
        redis_url=redis_server.url,
        service_token=TOKEN,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        outbox_poll_seconds=0.05,
        shutdown_grace_seconds=2,
        duplicate_wait_seconds=5,
        agent_turn_timeout_seconds=5,
        knowledge_database_url="",
    )


def seeded_commerce() -> InMemoryCommerce:
    created = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    commerce = InMemoryCommerce()
    commerce.customers = {
        CUSTOMER_ID: CustomerInfo(CUSTOMER_ID, "Drogaria Central", "Drogaria Central Ltda.", PHONE),
        OTHER_CUSTOMER_ID: CustomerInfo(
            OTHER_CUSTOMER_ID, "Farmácia Rival", "Farmácia Rival Ltda.", OTHER_PHONE
        ),
    }
    commerce.products = {
        "DIP-500": ProductInfo(
            "DIP-500", "Dipirona Sódica 500 mg 10 comprimidos", 450, 100, True, "dipirona", "EMS"
        ),
        "AMX-500": ProductInfo(
            "AMX-500", "Amoxicilina 500 mg 21 cápsulas", 1890, 3, True, "amoxicilina", "Neo Química"
        ),
    }
    line = OrderLineInfo("DIP-500", "Dipirona Sódica 500 mg 10 comprimidos", 20, 450, 9000)
    commerce.orders = {
        MY_ORDER_ID: OrderInfo(MY_ORDER_ID, CUSTOMER_ID, "shipped", (line,), 9000, created),
        OTHER_ORDER_ID: OrderInfo(
            OTHER_ORDER_ID, OTHER_CUSTOMER_ID, "confirmed", (line,), 9000, created
        ),
    }
    return commerce


KNOWLEDGE = [
    KnowledgeDocument(
        "Política de entrega",
        "Pedidos confirmados até as 14h são entregues no dia útil seguinte na capital.",
        "Prazos",
    ),
    KnowledgeDocument("Pedido mínimo", "O pedido mínimo é de R$ 300,00 por entrega.", "Valores"),
]


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Harness:
    app: ConversationsApp
    model: ScriptedModel
    commerce: InMemoryCommerce
    knowledge: InMemoryKnowledge
    redis: Redis
    clock: Clock
    _external_ids: itertools.count[int]

    @property
    def service(self) -> ConversationService:
        return self.app.service

    def inbound(
        self, text: str = "", *, phone: str = PHONE, external_id: str = "", **extra: str
    ) -> Inbound:
        return Inbound(
            channel=Channel.WHATSAPP,
            external_id=external_id or f"wamid.test{next(self._external_ids)}",
            phone=phone,
            text=text,
            **extra,  # type: ignore[arg-type]
        )

    async def outbox(self, stream: str = "conversations.outbound") -> list[dict[str, str]]:
        async with self.app.database.read() as session:
            rows = await session.execute(
                text("SELECT fields FROM outbox WHERE stream = :s ORDER BY id"), {"s": stream}
            )
            return [row[0] for row in rows]


@pytest.fixture
async def harness(
    conversations_settings: ConversationsSettings,
) -> AsyncIterator[Harness]:
    model = ScriptedModel()
    commerce = seeded_commerce()
    knowledge = InMemoryKnowledge(list(KNOWLEDGE))
    async with conversations_app(
        conversations_settings,
        model=model,
        commerce=commerce,
        knowledge=knowledge,
        use_knowledge_settings=False,
        run_background=False,
    ) as app:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with app.database.transaction() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        clock = Clock()
        app.service.clock = clock
        redis = Redis.from_url(conversations_settings.redis_url)
        await redis.flushdb()
        yield Harness(app, model, commerce, knowledge, redis, clock, itertools.count(1))
        await redis.aclose()
