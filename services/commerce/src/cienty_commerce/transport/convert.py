"""Protobuf <-> domain conversions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from cienty.commerce.v1 import catalog_pb2, customers_pb2, orders_pb2
from cienty_commerce.domain.catalog import Product
from cienty_commerce.domain.customers import Customer, CustomerStatus
from cienty_commerce.domain.orders import Channel, Order, OrderStatus
from cienty_kit.errors import InvalidArgument


def optional_field(message: Any, field: str) -> Any:
    """The value of a proto3 `optional` field, or None when the caller left it unset."""
    return getattr(message, field) if message.HasField(field) else None


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


CUSTOMER_STATUS_TO_PB = {
    CustomerStatus.ACTIVE: customers_pb2.CUSTOMER_STATUS_ACTIVE,
    CustomerStatus.BLOCKED: customers_pb2.CUSTOMER_STATUS_BLOCKED,
}
CUSTOMER_STATUS_FROM_PB = {pb: status for status, pb in CUSTOMER_STATUS_TO_PB.items()}

ORDER_STATUS_TO_PB = {
    OrderStatus.PENDING: orders_pb2.ORDER_STATUS_PENDING,
    OrderStatus.CONFIRMED: orders_pb2.ORDER_STATUS_CONFIRMED,
    OrderStatus.INVOICED: orders_pb2.ORDER_STATUS_INVOICED,
    OrderStatus.SHIPPED: orders_pb2.ORDER_STATUS_SHIPPED,
    OrderStatus.DELIVERED: orders_pb2.ORDER_STATUS_DELIVERED,
    OrderStatus.CANCELLED: orders_pb2.ORDER_STATUS_CANCELLED,
}
ORDER_STATUS_FROM_PB = {pb: status for status, pb in ORDER_STATUS_TO_PB.items()}

CHANNEL_TO_PB = {
    Channel.UNSPECIFIED: orders_pb2.CHANNEL_UNSPECIFIED,
    Channel.WHATSAPP: orders_pb2.CHANNEL_WHATSAPP,
    Channel.BACKOFFICE: orders_pb2.CHANNEL_BACKOFFICE,
    Channel.API: orders_pb2.CHANNEL_API,
}
CHANNEL_FROM_PB = {pb: channel for channel, pb in CHANNEL_TO_PB.items()}


def customer_status(value: int, field: str = "status") -> CustomerStatus:
    try:
        return CUSTOMER_STATUS_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(
            field, "must be CUSTOMER_STATUS_ACTIVE or CUSTOMER_STATUS_BLOCKED"
        ) from None


def order_status(value: int, field: str = "status") -> OrderStatus:
    try:
        return ORDER_STATUS_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(
            field, "must be a known order status other than UNSPECIFIED"
        ) from None


def channel(value: int, field: str = "channel") -> Channel:
    try:
        return CHANNEL_FROM_PB[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument(field, "is not a known channel") from None


def customer_to_pb(customer: Customer) -> customers_pb2.Customer:
    return customers_pb2.Customer(
        id=customer.id,
        cnpj=customer.cnpj,
        legal_name=customer.legal_name,
        trade_name=customer.trade_name,
        phone=customer.phone,
        email=customer.email,
        status=CUSTOMER_STATUS_TO_PB[customer.status],
        state=customer.state,
        city=customer.city,
        create_time=timestamp(customer.created_at),
        update_time=timestamp(customer.updated_at),
    )


def product_to_pb(product: Product) -> catalog_pb2.Product:
    return catalog_pb2.Product(
        sku=product.sku,
        name=product.name,
        gtin=product.gtin,
        active_ingredient=product.active_ingredient,
        manufacturer=product.manufacturer,
        unit_price_cents=product.unit_price_cents,
        stock_quantity=product.stock_quantity,
        active=product.active,
        description=product.description,
        create_time=timestamp(product.created_at),
        update_time=timestamp(product.updated_at),
    )


def order_to_pb(order: Order) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=order.id,
        customer_id=order.customer_id,
        status=ORDER_STATUS_TO_PB[order.status],
        channel=CHANNEL_TO_PB[order.channel],
        total_cents=order.total_cents,
        cancel_reason=order.cancel_reason,
        create_time=timestamp(order.created_at),
        update_time=timestamp(order.updated_at),
        lines=[
            orders_pb2.OrderLine(
                sku=line.sku,
                product_name=line.product_name,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
                line_total_cents=line.total_cents,
            )
            for line in order.lines
        ],
        history=[
            orders_pb2.OrderStatusChange(
                from_status=ORDER_STATUS_TO_PB[change.from_status]
                if change.from_status
                else orders_pb2.ORDER_STATUS_UNSPECIFIED,
                to_status=ORDER_STATUS_TO_PB[change.to_status],
                actor=change.actor,
                reason=change.reason,
                change_time=timestamp(change.changed_at),
            )
            for change in order.history
        ],
    )
