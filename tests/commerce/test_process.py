"""`cienty commerce serve` as a real process: serving, SIGTERM drain, relay to Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cienty.commerce.v1 import catalog_pb2, orders_pb2, orders_pb2_grpc
from cienty_dev.embedded import free_port
from cienty_kit.grpc.client import service_channel
from tests.commerce.conftest import TOKEN, Commerce, product_request


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    address: str
    metrics_port: int


@pytest.fixture
async def server_process(commerce: Commerce) -> AsyncIterator[Served]:
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "CIENTY_ENVIRONMENT": "production",
        "CIENTY_SERVICE_TOKEN": TOKEN,
        "CIENTY_DATABASE_URL": commerce.settings.database_url,
        "CIENTY_REDIS_URL": commerce.settings.redis_url,
        "CIENTY_GRPC_HOST": "127.0.0.1",
        "CIENTY_GRPC_PORT": str(port),
        "CIENTY_METRICS_PORT": str(metrics_port),
        "CIENTY_SHUTDOWN_GRACE_SECONDS": "10",
        "CIENTY_OUTBOX_POLL_SECONDS": "0.1",
    }
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "cienty_kit", "commerce", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):
            try:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1)
        else:
            process.kill()
            pytest.fail(f"server did not start: {process.communicate()[0].decode()}")
    yield Served(process, address, metrics_port)
    if process.poll() is None:
        process.kill()
        process.wait()
    assert process.stdout is not None
    process.stdout.close()


async def test_sigterm_drains_in_flight_calls(
    commerce: Commerce,
    server_process: Served,
    new_customer: object,
) -> None:
    process, address = server_process.process, server_process.address
    await commerce.catalog.CreateProduct(product_request())
    customer = await commerce.customers.CreateCustomer(new_customer())  # type: ignore[operator]

    blocker = await asyncpg.connect(commerce.settings.database_url)
    lock = blocker.transaction()
    await lock.start()
    await blocker.execute("SELECT * FROM products WHERE sku = 'MED-1' FOR UPDATE")
    async with service_channel(address, TOKEN) as channel:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        in_flight = asyncio.ensure_future(
            orders.CreateOrder(
                orders_pb2.CreateOrderRequest(
                    request_id="during-shutdown",
                    customer_id=customer.id,
                    lines=[orders_pb2.CreateOrderLine(sku="MED-1", quantity=3)],
                ),
                timeout=20,
            )
        )
        await asyncio.sleep(0.5)  # the call is now waiting on the row lock
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert process.poll() is None, "the server must wait for the in-flight call"

        # New calls are refused while draining.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async with service_channel(address, TOKEN) as fresh:
                await orders_pb2_grpc.OrderServiceStub(fresh).GetOrder(
                    orders_pb2.GetOrderRequest(id=customer.id), timeout=2
                )
        assert refused.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )

        await lock.rollback()
        await blocker.close()
        order = await in_flight
    assert order.status == orders_pb2.ORDER_STATUS_PENDING
    output, _ = await asyncio.to_thread(process.communicate, timeout=15)
    assert process.returncode == 0, output.decode()
    log_lines = [json.loads(line) for line in output.splitlines() if line.startswith(b"{")]
    assert {"grpc_server_draining", "grpc_server_stopped"} <= {e["event"] for e in log_lines}
    assert all({"level", "timestamp", "logger"} <= entry.keys() for entry in log_lines)
    product = await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MED-1"))
    assert product.stock_quantity == 97


async def test_serving_process_relays_order_events(
    commerce: Commerce,
    server_process: Served,
    new_customer: object,
) -> None:
    address = server_process.address
    await commerce.catalog.CreateProduct(product_request())
    customer = await commerce.customers.CreateCustomer(new_customer())  # type: ignore[operator]
    async with service_channel(address, TOKEN) as channel:
        order = await orders_pb2_grpc.OrderServiceStub(channel).CreateOrder(
            orders_pb2.CreateOrderRequest(
                request_id="relayed",
                customer_id=customer.id,
                lines=[orders_pb2.CreateOrderLine(sku="MED-1", quantity=1)],
            )
        )
    for _ in range(50):
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await commerce.redis.xrange(  # type: ignore[assignment]
            "commerce.order-events"
        )
        if entries:
            break
        await asyncio.sleep(0.1)
    assert [fields[b"aggregate_id"].decode() for _, fields in entries] == [order.id]

    metrics_url = f"http://127.0.0.1:{server_process.metrics_port}/metrics"
    body = (await asyncio.to_thread(urllib.request.urlopen, metrics_url, timeout=5)).read().decode()
    assert (
        'cienty_grpc_server_handled_total{grpc_code="OK",grpc_method="CreateOrder",'
        'grpc_service="cienty.commerce.v1.OrderService"} 1.0'
    ) in body
    assert 'cienty_commerce_orders_created_total{channel="unspecified"} 1.0' in body


def test_production_refuses_the_default_token() -> None:
    env = {**os.environ, "CIENTY_ENVIRONMENT": "production"}
    env.pop("CIENTY_SERVICE_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "cienty_kit", "commerce", "serve"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert b"CIENTY_SERVICE_TOKEN" in result.stderr
