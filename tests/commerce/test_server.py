"""Transport concerns: service auth, health, reflection, metrics."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from cienty.commerce.v1 import catalog_pb2, catalog_pb2_grpc
from cienty_kit.grpc.client import service_channel
from cienty_kit.grpc.server import GrpcServer
from tests.commerce.conftest import TOKEN, Commerce


@pytest.mark.parametrize(
    "metadata",
    [None, (("authorization", "Bearer wrong"),), (("authorization", "test-service-token"),)],
)
async def test_calls_without_the_service_token_are_unauthenticated(
    commerce: Commerce, metadata: tuple[tuple[str, str], ...] | None
) -> None:
    async with grpc.aio.insecure_channel(commerce.address) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.GetProduct(catalog_pb2.GetProductRequest(sku="X"), metadata=metadata)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_health_needs_no_token(commerce: Commerce) -> None:
    async with grpc.aio.insecure_channel(commerce.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "cienty.commerce.v1.OrderService"):
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(commerce: Commerce) -> None:
    async with service_channel(commerce.address, "test-service-token-0123456789") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for response in stub.ServerReflectionInfo(iter([request])):
            names = {s.name for s in response.list_services_response.service}
            break
    assert {
        "cienty.commerce.v1.CustomerService",
        "cienty.commerce.v1.CatalogService",
        "cienty.commerce.v1.OrderService",
        "grpc.health.v1.Health",
    } <= names


def _handled(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "cienty_grpc_server_handled_total",
        {
            "grpc_service": "cienty.commerce.v1.CatalogService",
            "grpc_method": method,
            "grpc_code": code,
        },
    )
    return value or 0.0


async def test_rpc_metrics_count_codes(commerce: Commerce) -> None:
    before = _handled("GetProduct", "NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError):
        await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MISSING"))
    # The server counts in its handler's `finally`, which may run just after the client already
    # has the status: give it a moment.
    for _ in range(100):
        if _handled("GetProduct", "NOT_FOUND") != before:
            break
        await asyncio.sleep(0.01)
    assert _handled("GetProduct", "NOT_FOUND") == before + 1


async def test_overload_is_refused_not_queued(commerce: Commerce) -> None:
    """With a concurrency limit, a call beyond it fails fast with RESOURCE_EXHAUSTED."""
    limited = commerce.settings.model_copy(update={"grpc_max_concurrent_rpcs": 1})
    release = asyncio.Event()
    entered = asyncio.Event()

    class SlowCatalog(catalog_pb2_grpc.CatalogServiceServicer):
        async def GetProduct(
            self, request: catalog_pb2.GetProductRequest, context: object
        ) -> catalog_pb2.Product:
            entered.set()
            await release.wait()
            return catalog_pb2.Product(sku=request.sku)

    server = GrpcServer(
        limited,
        service_names=["cienty.commerce.v1.CatalogService"],
        register=lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(
            SlowCatalog(),  # type: ignore[abstract]  # only GetProduct is called
            s,
        ),
    )
    port = await server.start()
    try:
        async with service_channel(f"127.0.0.1:{port}", TOKEN) as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            first = asyncio.ensure_future(stub.GetProduct(catalog_pb2.GetProductRequest(sku="A")))
            await entered.wait()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetProduct(catalog_pb2.GetProductRequest(sku="B"), timeout=5)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            release.set()
            assert (await first).sku == "A"
    finally:
        await server.stop(0)
