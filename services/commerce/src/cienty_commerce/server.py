"""Composition root: builds commerce's dependencies from settings and serves gRPC."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import grpc

from cienty.commerce.v1 import catalog_pb2_grpc, customers_pb2_grpc, orders_pb2_grpc
from cienty_commerce.repository.event_stream import EventStream
from cienty_commerce.repository.product_cache import ProductCache
from cienty_commerce.service.catalog import CatalogService
from cienty_commerce.service.customers import CustomerService
from cienty_commerce.service.housekeeping import Housekeeper
from cienty_commerce.service.orders import OrderService
from cienty_commerce.service.outbox_relay import OutboxRelay
from cienty_commerce.settings import CommerceSettings
from cienty_commerce.transport.catalog import CatalogServicer
from cienty_commerce.transport.customers import CustomerServicer
from cienty_commerce.transport.orders import OrderServicer
from cienty_kit.database import Database, create_engine
from cienty_kit.grpc.server import GrpcServer
from cienty_kit.logging import get_logger
from cienty_kit.redis import create_redis

log = get_logger(__name__)

SERVICE_NAMES = (
    "cienty.commerce.v1.CustomerService",
    "cienty.commerce.v1.CatalogService",
    "cienty.commerce.v1.OrderService",
)


@dataclass
class CommerceApp:
    server: GrpcServer
    relay: OutboxRelay
    housekeeper: Housekeeper
    customers: CustomerService
    catalog: CatalogService
    orders: OrderService


@contextlib.asynccontextmanager
async def commerce_app(
    settings: CommerceSettings, *, run_background: bool = True
) -> AsyncIterator[CommerceApp]:
    """Everything commerce needs, wired; the outbox relay and housekeeping run (unless
    `run_background` is off, for tests that drive them) while the context is open."""
    database = Database(create_engine(settings.database_url, pool_size=settings.database_pool_size))
    redis = create_redis(settings.redis_url)
    cache = ProductCache(
        redis,
        ttl_seconds=settings.product_cache_ttl_seconds,
        local_ttl_seconds=settings.product_local_cache_seconds,
    )
    relay = OutboxRelay(
        database,
        EventStream(redis, max_length=settings.order_events_max_length),
        poll_interval=settings.outbox_poll_seconds,
    )
    customers = CustomerService(database)
    catalog = CatalogService(database, cache)
    orders = OrderService(database, cache, on_event_written=relay.wake)

    def register(server: grpc.aio.Server) -> None:
        customers_pb2_grpc.add_CustomerServiceServicer_to_server(
            CustomerServicer(customers), server
        )
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(catalog), server)
        orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderServicer(orders), server)

    server = GrpcServer(settings, service_names=SERVICE_NAMES, register=register)
    housekeeper = Housekeeper(
        database,
        outbox_retention=timedelta(hours=settings.outbox_retention_hours),
        idempotency_retention=timedelta(hours=settings.idempotency_retention_hours),
    )
    background: list[tuple[asyncio.Task[None], Callable[[], None]]] = []
    if run_background:
        background = [
            (asyncio.create_task(relay.run(), name="outbox-relay"), relay.stop),
            (asyncio.create_task(housekeeper.run(), name="housekeeping"), housekeeper.stop),
        ]
    try:
        yield CommerceApp(server, relay, housekeeper, customers, catalog, orders)
    finally:
        for task, stop in background:
            stop()
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                log.warning("background_task_stop_timeout", task=task.get_name())
        await redis.aclose()
        await database.dispose()


async def serve(settings: CommerceSettings) -> None:
    async with commerce_app(settings) as app:
        await app.server.serve_until_signalled()
