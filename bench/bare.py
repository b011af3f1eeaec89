"""The baseline: a bare grpc.aio server whose CatalogService.GetProduct returns one constant,
pre-built Product (the serialized bytes of a real one). No interceptor, database or cache.

Run as `python -m bench.bare PORT PAYLOAD_FILE` (PAYLOAD_FILE: a serialized Product); serves on
127.0.0.1:PORT until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import grpc

from cienty.commerce.v1 import catalog_pb2, catalog_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class ConstantCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, product: catalog_pb2.Product) -> None:
        self._product = product

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: Context
    ) -> catalog_pb2.Product:
        return self._product

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: Context
    ) -> catalog_pb2.Product:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bare server: GetProduct only")

    async def SearchProducts(
        self, request: catalog_pb2.SearchProductsRequest, context: Context
    ) -> catalog_pb2.SearchProductsResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bare server: GetProduct only")

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: Context
    ) -> catalog_pb2.Product:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bare server: GetProduct only")

    async def AdjustStock(
        self, request: catalog_pb2.AdjustStockRequest, context: Context
    ) -> catalog_pb2.Product:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "bare server: GetProduct only")


async def serve(port: int, payload: bytes) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(
        ConstantCatalog(catalog_pb2.Product.FromString(payload)), server
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)


def main(argv: list[str]) -> None:
    port, payload_file = argv
    asyncio.run(serve(int(port), Path(payload_file).read_bytes()))


if __name__ == "__main__":
    main(sys.argv[1:])
