"""Order events go through the outbox to the `commerce.order-events` Redis Stream."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from cienty.commerce.v1 import customers_pb2, orders_pb2
from cienty_commerce.repository.event_stream import EventStream
from cienty_commerce.service.outbox_relay import OutboxRelay
from cienty_dev.embedded import EmbeddedRedis
from tests.commerce.conftest import Commerce, product_request

STREAM = "commerce.order-events"


async def place_and_progress(
    commerce: Commerce, new_customer: Callable[..., customers_pb2.CreateCustomerRequest]
) -> orders_pb2.Order:
    await commerce.catalog.CreateProduct(product_request())
    customer = await commerce.customers.CreateCustomer(new_customer())
    order = await commerce.orders.CreateOrder(
        orders_pb2.CreateOrderRequest(
            request_id="r1",
            customer_id=customer.id,
            lines=[orders_pb2.CreateOrderLine(sku="MED-1", quantity=1)],
            channel=orders_pb2.CHANNEL_WHATSAPP,
        )
    )
    await commerce.orders.UpdateOrderStatus(
        orders_pb2.UpdateOrderStatusRequest(id=order.id, status=orders_pb2.ORDER_STATUS_CONFIRMED)
    )
    await commerce.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id, reason="teste"))
    return order


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def _until(condition: Callable[[], bool]) -> None:
    """Polls a metric the relay updates from its own task (no event to wait on)."""
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met within 5 s")


async def pending_count(commerce: Commerce) -> int:
    async with commerce.database.transaction() as session:
        result = await session.execute(
            text("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
        )
        return int(result.scalar_one())


async def read_stream(redis: Redis) -> list[dict[str, str]]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(STREAM)  # type: ignore[assignment]
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def test_status_changes_are_relayed_in_order(
    commerce: Commerce, new_customer: Callable[..., customers_pb2.CreateCustomerRequest]
) -> None:
    order = await place_and_progress(commerce, new_customer)
    assert await pending_count(commerce) == 3
    assert await commerce.app.relay.relay_once() == 3
    assert await pending_count(commerce) == 0
    assert await commerce.app.relay.relay_once() == 0  # nothing is sent twice

    events = await read_stream(commerce.redis)
    payloads = [json.loads(event["payload"]) for event in events]
    assert [p["to_status"] for p in payloads] == ["pending", "confirmed", "cancelled"]
    assert {p["order_id"] for p in payloads} == {order.id}
    assert payloads[2]["reason"] == "teste"
    assert payloads[1]["actor"] == "staff:test"
    assert [int(e["event_id"]) for e in events] == sorted(int(e["event_id"]) for e in events)


async def test_nothing_is_lost_while_redis_is_down(
    commerce: Commerce,
    new_customer: Callable[..., customers_pb2.CreateCustomerRequest],
    tmp_path: Path,
) -> None:
    outage_redis = EmbeddedRedis(tmp_path / "redis")
    outage_redis.start()
    client = Redis.from_url(outage_redis.url, socket_timeout=1, socket_connect_timeout=1)
    relay = OutboxRelay(
        commerce.database, EventStream(client, max_length=1000), poll_interval=0.05, max_backoff=0.2
    )
    running: asyncio.Task[None] | None = None
    try:
        outage_redis.stop()
        # Orders keep being taken while Redis is away; their events wait in PostgreSQL.
        await place_and_progress(commerce, new_customer)
        with pytest.raises((RedisError, OSError)):
            await relay.relay_once()
        assert await pending_count(commerce) == 3

        failures_before = _sample("cienty_commerce_outbox_relay_failures_total")
        running = asyncio.create_task(relay.run())
        await _until(
            lambda: _sample("cienty_commerce_outbox_relay_failures_total") > failures_before
        )
        await _until(lambda: _sample("cienty_commerce_outbox_pending") == 3)

        outage_redis.start()  # same port, same data directory: the relay recovers by itself
        for _ in range(100):
            if await pending_count(commerce) == 0:
                break
            await asyncio.sleep(0.05)
        assert await pending_count(commerce) == 0
        relay.stop()
        await asyncio.wait_for(running, timeout=5)
        assert _sample("cienty_commerce_outbox_pending") == 0
        events = await read_stream(client)
        assert [json.loads(e["payload"])["to_status"] for e in events] == [
            "pending",
            "confirmed",
            "cancelled",
        ]
    finally:
        if running is not None and not running.done():
            running.cancel()
        await client.aclose()
        outage_redis.stop()


async def test_a_failed_order_writes_no_event(
    commerce: Commerce, new_customer: Callable[..., customers_pb2.CreateCustomerRequest]
) -> None:
    await commerce.catalog.CreateProduct(product_request(stock_quantity=1))
    customer = await commerce.customers.CreateCustomer(new_customer())
    with pytest.raises(grpc.aio.AioRpcError):
        await commerce.orders.CreateOrder(
            orders_pb2.CreateOrderRequest(
                request_id="too-many",
                customer_id=customer.id,
                lines=[orders_pb2.CreateOrderLine(sku="MED-1", quantity=2)],
            )
        )
    assert await pending_count(commerce) == 0
