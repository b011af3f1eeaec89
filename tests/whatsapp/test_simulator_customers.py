"""The simulator's pharmacies from a real commerce server (the session's PostgreSQL and Redis),
over gRPC with the service token, and the fixed demo list when commerce cannot answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from cienty_commerce.demo import seed_demo
from cienty_commerce.demo_data import DEMO_CUSTOMERS as COMMERCE_DEMO
from cienty_commerce.domain.customers import NewCustomer
from cienty_commerce.repository.tables import Base
from cienty_commerce.server import CommerceApp, commerce_app
from cienty_commerce.settings import CommerceSettings
from cienty_dev.embedded import EmbeddedRedis
from cienty_whatsapp.simulator.customers import DEMO_CUSTOMERS, list_customers, load_customers

TOKEN = "simulator-test-service-token"


@pytest.fixture(scope="module")
async def commerce(database_url: str, redis_server: EmbeddedRedis) -> AsyncIterator[str]:
    """A commerce server holding the demo customers and one more; yields its address."""
    settings = CommerceSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_server.url,
        service_token=TOKEN,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        shutdown_grace_seconds=1,
    )
    async with commerce_app(settings, run_background=False) as app:
        await reset(app)
        await seed_demo(app.customers, app.catalog)
        await app.customers.create(
            "simulator-test:extra",
            NewCustomer(
                cnpj="11222333000181",
                legal_name="Farmácia Nova Esperança Ltda.",
                trade_name="",
                phone="+5511987650001",
                email="compras@novaesperanca.com.br",
                state="SP",
                city="Santos",
            ),
        )
        port = await app.server.start()
        yield f"127.0.0.1:{port}"
        await app.server.stop(0)
        await reset(app)


async def reset(app: CommerceApp) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with app.customers._db.transaction() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


async def test_commerce_lists_its_customers_by_name(commerce: str) -> None:
    customers = await list_customers(commerce, TOKEN)
    by_phone = {c.phone: c for c in customers}
    for demo in COMMERCE_DEMO:
        listed = by_phone[demo.phone]
        assert (listed.name, listed.city, listed.state) == (demo.trade_name, demo.city, demo.state)
    # No trade name: the legal name.
    assert by_phone["+5511987650001"].name == "Farmácia Nova Esperança Ltda."
    assert len(customers) == len(COMMERCE_DEMO) + 1
    names = [c.name.casefold() for c in customers]
    assert names == sorted(names)


async def test_load_customers_prefers_commerce(commerce: str) -> None:
    customers = await load_customers(commerce, TOKEN)
    assert "+5511987650001" in {c.phone for c in customers}


async def test_without_commerce_or_its_token_the_fixed_demo_list(commerce: str) -> None:
    assert await load_customers(None, TOKEN) == list(DEMO_CUSTOMERS)
    # commerce refuses another token (UNAUTHENTICATED): the fixed list, not a crash.
    assert await load_customers(commerce, "not-the-service-token") == list(DEMO_CUSTOMERS)
    # Nobody listening.
    assert await load_customers("127.0.0.1:9", TOKEN) == list(DEMO_CUSTOMERS)
