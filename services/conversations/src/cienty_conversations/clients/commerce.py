"""The commerce service over gRPC, as the `Commerce` port.

Calls carry a deadline and the `agent` actor; UNAVAILABLE and DEADLINE_EXCEEDED become
`CommerceUnavailable`, refusals (FAILED_PRECONDITION, INVALID_ARGUMENT...) `CommerceRejected`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import UTC
from typing import TypeVar

import grpc

from cienty.commerce.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
)
from cienty_conversations.ports import (
    CommerceRejected,
    CommerceUnavailable,
    CustomerInfo,
    OrderInfo,
    OrderLineInfo,
    ProductInfo,
)
from cienty_kit.grpc.client import service_channel

T = TypeVar("T")

ACTOR = "agent"
_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}
_ORDER_STATUS = {
    orders_pb2.ORDER_STATUS_PENDING: "pending",
    orders_pb2.ORDER_STATUS_CONFIRMED: "confirmed",
    orders_pb2.ORDER_STATUS_INVOICED: "invoiced",
    orders_pb2.ORDER_STATUS_SHIPPED: "shipped",
    orders_pb2.ORDER_STATUS_DELIVERED: "delivered",
    orders_pb2.ORDER_STATUS_CANCELLED: "cancelled",
}


class GrpcCommerce:
    def __init__(self, address: str, token: str, *, timeout_seconds: float = 3.0) -> None:
        self._channel = service_channel(address, token, actor=ACTOR)
        self._customers = customers_pb2_grpc.CustomerServiceStub(self._channel)
        self._catalog = catalog_pb2_grpc.CatalogServiceStub(self._channel)
        self._orders = orders_pb2_grpc.OrderServiceStub(self._channel)
        self._timeout = timeout_seconds

    async def close(self) -> None:
        await self._channel.close(None)

    async def customer_by_phone(self, phone: str) -> CustomerInfo | None:
        found = await self._maybe(
            self._customers.GetCustomerByPhone(
                customers_pb2.GetCustomerByPhoneRequest(phone=phone), timeout=self._timeout
            )
        )
        return _customer(found) if found is not None else None

    async def customer(self, customer_id: str) -> CustomerInfo | None:
        if not customer_id:
            return None
        found = await self._maybe(
            self._customers.GetCustomer(
                customers_pb2.GetCustomerRequest(id=customer_id), timeout=self._timeout
            )
        )
        return _customer(found) if found is not None else None

    async def search_products(self, query: str, *, limit: int) -> list[ProductInfo]:
        response = await self._call(
            self._catalog.SearchProducts(
                catalog_pb2.SearchProductsRequest(query=query, page_size=limit),
                timeout=self._timeout,
            )
        )
        return [_product(p) for p in response.products]

    async def product(self, sku: str) -> ProductInfo | None:
        found = await self._maybe(
            self._catalog.GetProduct(catalog_pb2.GetProductRequest(sku=sku), timeout=self._timeout)
        )
        return _product(found) if found is not None else None

    async def orders_of(self, customer_id: str, *, limit: int) -> list[OrderInfo]:
        response = await self._call(
            self._orders.ListOrders(
                orders_pb2.ListOrdersRequest(customer_id=customer_id, page_size=limit),
                timeout=self._timeout,
            )
        )
        return [_order(o) for o in response.orders]

    async def order(self, order_id: str) -> OrderInfo | None:
        found = await self._maybe(
            self._orders.GetOrder(orders_pb2.GetOrderRequest(id=order_id), timeout=self._timeout)
        )
        return _order(found) if found is not None else None

    async def create_order(
        self, *, request_id: str, customer_id: str, lines: Sequence[tuple[str, int]]
    ) -> OrderInfo:
        order = await self._call(
            self._orders.CreateOrder(
                orders_pb2.CreateOrderRequest(
                    request_id=request_id,
                    customer_id=customer_id,
                    lines=[orders_pb2.CreateOrderLine(sku=s, quantity=q) for s, q in lines],
                    channel=orders_pb2.CHANNEL_WHATSAPP,
                ),
                timeout=self._timeout,
            )
        )
        return _order(order)

    async def cancel_order(self, order_id: str, *, reason: str) -> OrderInfo:
        order = await self._call(
            self._orders.CancelOrder(
                orders_pb2.CancelOrderRequest(id=order_id, reason=reason), timeout=self._timeout
            )
        )
        return _order(order)

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            if error.code() in _UNAVAILABLE:
                raise CommerceUnavailable(
                    f"commerce: {error.code().name}: {error.details()}"
                ) from error
            raise CommerceRejected(error.details() or error.code().name) from error

    async def _maybe(self, call: Awaitable[T]) -> T | None:
        try:
            return await self._call(call)
        except CommerceRejected as rejected:
            cause = rejected.__cause__
            if isinstance(cause, grpc.aio.AioRpcError) and cause.code() in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.INVALID_ARGUMENT,
            ):
                return None
            raise


def _customer(customer: customers_pb2.Customer) -> CustomerInfo:
    return CustomerInfo(
        id=customer.id,
        trade_name=customer.trade_name,
        legal_name=customer.legal_name,
        phone=customer.phone,
        active=customer.status != customers_pb2.CUSTOMER_STATUS_BLOCKED,
    )


def _product(product: catalog_pb2.Product) -> ProductInfo:
    return ProductInfo(
        sku=product.sku,
        name=product.name,
        unit_price_cents=product.unit_price_cents,
        stock_quantity=product.stock_quantity,
        active=product.active,
        active_ingredient=product.active_ingredient,
        manufacturer=product.manufacturer,
        description=product.description,
    )


def _order(order: orders_pb2.Order) -> OrderInfo:
    return OrderInfo(
        id=order.id,
        customer_id=order.customer_id,
        status=_ORDER_STATUS.get(order.status, "unknown"),
        lines=tuple(
            OrderLineInfo(
                sku=line.sku,
                product_name=line.product_name,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
                line_total_cents=line.line_total_cents,
            )
            for line in order.lines
        ),
        total_cents=order.total_cents,
        created_at=order.create_time.ToDatetime(tzinfo=UTC),
        cancel_reason=order.cancel_reason,
    )
