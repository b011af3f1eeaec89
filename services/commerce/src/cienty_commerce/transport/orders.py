"""OrderService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc

from cienty.commerce.v1 import orders_pb2, orders_pb2_grpc
from cienty_commerce.domain.orders import OrderStatus, RequestedLine
from cienty_commerce.service.orders import OrderService
from cienty_commerce.transport.convert import channel, order_status, order_to_pb

Context = grpc.aio.ServicerContext[Any, Any]


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, service: OrderService) -> None:
        self._service = service

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: Context
    ) -> orders_pb2.Order:
        order = await self._service.create(
            request_id=request.request_id,
            customer_id=request.customer_id,
            lines=[RequestedLine(sku=line.sku, quantity=line.quantity) for line in request.lines],
            channel=channel(request.channel),
        )
        return order_to_pb(order)

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: Context
    ) -> orders_pb2.Order:
        return order_to_pb(await self._service.get(request.id))

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        orders, token = await self._service.list_orders(
            customer_id=request.customer_id,
            page_size_requested=request.page_size,
            page_token=request.page_token,
        )
        return orders_pb2.ListOrdersResponse(
            orders=[order_to_pb(o) for o in orders], next_page_token=token
        )

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: Context
    ) -> orders_pb2.Order:
        return order_to_pb(await self._service.cancel(request.id, request.reason))

    async def UpdateOrderStatus(
        self, request: orders_pb2.UpdateOrderStatusRequest, context: Context
    ) -> orders_pb2.Order:
        target: OrderStatus = order_status(request.status)
        return order_to_pb(await self._service.change_status(request.id, target, request.reason))
