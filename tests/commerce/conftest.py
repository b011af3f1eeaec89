"""A commerce server on a random port, against the session's PostgreSQL and Redis.

Each test starts from empty tables and an empty Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from cienty.commerce.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    orders_pb2_grpc,
)
from cienty_commerce.repository.tables import Base
from cienty_commerce.server import CommerceApp, commerce_app
from cienty_commerce.settings import CommerceSettings
from cienty_dev.embedded import EmbeddedRedis
from cienty_kit.database import Database
from cienty_kit.grpc.client import service_channel

TOKEN = "test-service-token-0123456789"


@dataclass
class Commerce:
    app: CommerceApp
    address: str
    channel: grpc.aio.Channel
    customers: customers_pb2_grpc.CustomerServiceAsyncStub
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    orders: orders_pb2_grpc.OrderServiceAsyncStub
    redis: Redis
    settings: CommerceSettings

    @property
    def database(self) -> Database:
        return self.app.customers._db


@pytest.fixture(scope="session")
def settings(database_url: str, redis_server: EmbeddedRedis) -> CommerceSettings:
    return CommerceSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_server.url,
        service_token=TOKEN,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        outbox_poll_seconds=0.05,
        shutdown_grace_seconds=5,
    )


@pytest.fixture(scope="session")
async def running(settings: CommerceSettings) -> AsyncIterator[Commerce]:
    # The relay is driven explicitly by the outbox tests.
    async with commerce_app(settings, run_background=False) as app:
        port = await app.server.start()
        address = f"127.0.0.1:{port}"
        channel = service_channel(address, TOKEN, actor="staff:test")
        redis = Redis.from_url(settings.redis_url)
        yield Commerce(
            app=app,
            address=address,
            channel=channel,
            customers=customers_pb2_grpc.CustomerServiceStub(channel),
            catalog=catalog_pb2_grpc.CatalogServiceStub(channel),
            orders=orders_pb2_grpc.OrderServiceStub(channel),
            redis=redis,
            settings=settings,
        )
        await channel.close(None)
        await redis.aclose()
        await app.server.stop(0)


@pytest.fixture
async def commerce(running: Commerce) -> Commerce:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with running.database.transaction() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await running.redis.flushdb()
    return running


# Fictitious CNPJs with valid check digits.
CNPJS = [
    "11222333000181",
    "48151623000191",
    "27182818000129",
    "31415926000171",
    "16180339000157",
    "57721566000120",
    "14142135000104",
]


@pytest.fixture
def new_customer(commerce: Commerce) -> Callable[..., customers_pb2.CreateCustomerRequest]:
    counter = iter(range(1000))

    def make(**overrides: object) -> customers_pb2.CreateCustomerRequest:
        n = next(counter)
        fields: dict[str, object] = {
            "request_id": f"req-customer-{n}",
            "cnpj": CNPJS[n],
            "legal_name": f"Drogaria Teste {n} Ltda.",
            "trade_name": f"Drogaria Teste {n}",
            "phone": f"+55119876543{n:02d}",
            "email": f"compras{n}@drogariateste.com.br",
            "state": "SP",
            "city": "São Paulo",
        }
        fields.update(overrides)
        return customers_pb2.CreateCustomerRequest(**fields)  # type: ignore[arg-type]

    return make


def product_request(**overrides: object) -> catalog_pb2.CreateProductRequest:
    fields: dict[str, object] = {
        "sku": "MED-1",
        "name": "Dipirona Sódica 500 mg 10 comprimidos",
        "gtin": "7891234567895",
        "active_ingredient": "dipirona sódica",
        "manufacturer": "EMS",
        "unit_price_cents": 450,
        "stock_quantity": 100,
    }
    fields.update(overrides)
    return catalog_pb2.CreateProductRequest(**fields)  # type: ignore[arg-type]
