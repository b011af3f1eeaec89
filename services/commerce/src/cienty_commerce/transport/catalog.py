"""CatalogService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc

from cienty.commerce.v1 import catalog_pb2, catalog_pb2_grpc
from cienty_commerce.domain.catalog import NewProduct, ProductChanges
from cienty_commerce.service.catalog import CatalogService
from cienty_commerce.transport.convert import optional_field as _optional
from cienty_commerce.transport.convert import product_to_pb

Context = grpc.aio.ServicerContext[Any, Any]


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, service: CatalogService) -> None:
        self._service = service

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: Context
    ) -> catalog_pb2.Product:
        product = await self._service.create(
            NewProduct(
                sku=request.sku,
                name=request.name,
                gtin=request.gtin,
                active_ingredient=request.active_ingredient,
                manufacturer=request.manufacturer,
                unit_price_cents=request.unit_price_cents,
                stock_quantity=request.stock_quantity,
                description=request.description,
            )
        )
        return product_to_pb(product)

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: Context
    ) -> catalog_pb2.Product:
        return product_to_pb(await self._service.get(request.sku))

    async def SearchProducts(
        self, request: catalog_pb2.SearchProductsRequest, context: Context
    ) -> catalog_pb2.SearchProductsResponse:
        products, token = await self._service.search(
            query=request.query,
            include_inactive=request.include_inactive,
            page_size_requested=request.page_size,
            page_token=request.page_token,
        )
        return catalog_pb2.SearchProductsResponse(
            products=[product_to_pb(p) for p in products], next_page_token=token
        )

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: Context
    ) -> catalog_pb2.Product:
        changes = ProductChanges(
            name=_optional(request, "name"),
            gtin=_optional(request, "gtin"),
            active_ingredient=_optional(request, "active_ingredient"),
            manufacturer=_optional(request, "manufacturer"),
            unit_price_cents=_optional(request, "unit_price_cents"),
            active=_optional(request, "active"),
            description=_optional(request, "description"),
        )
        return product_to_pb(await self._service.update(request.sku, changes))

    async def AdjustStock(
        self, request: catalog_pb2.AdjustStockRequest, context: Context
    ) -> catalog_pb2.Product:
        product = await self._service.adjust_stock(request.sku, request.delta, request.reason)
        return product_to_pb(product)
