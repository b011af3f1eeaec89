"""Order use cases: placing (with stock reservation), reading, status changes, cancelling.

Every status change is recorded with its actor and written to the outbox in the same
transaction, so the `commerce.order-events` stream never misses one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from cienty_commerce.domain import text
from cienty_commerce.domain.catalog import normalize_sku
from cienty_commerce.domain.customers import CustomerStatus
from cienty_commerce.domain.events import ORDER_EVENTS_STREAM, order_status_changed
from cienty_commerce.domain.orders import (
    Channel,
    Order,
    OrderLine,
    OrderStatus,
    RequestedLine,
    check_transition,
    merge_lines,
)
from cienty_commerce.repository.catalog import ProductRepository
from cienty_commerce.repository.customers import CustomerRepository
from cienty_commerce.repository.idempotency import IdempotencyRepository
from cienty_commerce.repository.orders import OrderRepository
from cienty_commerce.repository.outbox import OutboxRepository
from cienty_commerce.repository.product_cache import ProductCache
from cienty_commerce.service import metrics
from cienty_commerce.service.idempotency import fingerprint, reused_request_id
from cienty_kit.context import current_actor
from cienty_kit.database import Database, Session
from cienty_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from cienty_kit.pagination import decode_page_token, encode_page_token, page_size

_SCOPE = "order"


def parse_order_id(value: str, field: str = "id") -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be an order id (UUID)") from None


def parse_customer_id(value: str, field: str = "customer_id") -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be a customer id (UUID)") from None


class OrderService:
    def __init__(
        self,
        database: Database,
        cache: ProductCache,
        *,
        on_event_written: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = database
        self._cache = cache
        self._on_event_written = on_event_written

    async def create(
        self, *, request_id: str, customer_id: str, lines: list[RequestedLine], channel: Channel
    ) -> Order:
        key = text.request_id(request_id)
        customer_id = parse_customer_id(customer_id)
        requested = merge_lines(
            [
                RequestedLine(normalize_sku(line.sku, f"lines[{i}].sku"), line.quantity)
                for i, line in enumerate(lines)
            ]
        )
        request_hash = fingerprint(
            {
                "customer_id": customer_id,
                "channel": channel.value,
                "lines": [[line.sku, line.quantity] for line in requested],
            }
        )
        actor = current_actor()
        order_id = str(uuid.uuid4())
        async with self._db.transaction() as session:
            previous = await IdempotencyRepository(session).claim(
                _SCOPE, key, request_hash, order_id
            )
            if previous is not None:
                if previous.request_hash != request_hash:
                    raise reused_request_id()
                metrics.IDEMPOTENT_REPLAYS.labels(_SCOPE).inc()
                return await self._get(session, previous.resource_id)
            status = await CustomerRepository(session).status_of(customer_id)
            if status is None:
                raise NotFound(f"customer {customer_id} not found")
            if status is CustomerStatus.BLOCKED:
                metrics.ORDER_REJECTED.labels("customer_blocked").inc()
                raise FailedPrecondition(f"customer {customer_id} is blocked and cannot order")
            order_lines = await self._reserve(session, requested)
            order = await OrderRepository(session).add(
                order_id=order_id,
                customer_id=customer_id,
                channel=channel,
                lines=order_lines,
                actor=actor,
                reason="order placed",
            )
            await ProductRepository(session).record_movements(
                [(line.sku, -line.quantity) for line in order_lines],
                reason="order placed",
                actor=actor,
                order_id=order_id,
            )
            await self._write_event(session, order)
        await self._after_commit([line.sku for line in order_lines])
        metrics.ORDERS_CREATED.labels(channel.value).inc()
        metrics.ORDER_VALUE.labels(channel.value).inc(order.total_cents)
        metrics.ORDER_STATUS_CHANGES.labels(OrderStatus.PENDING.value).inc()
        return order

    async def get(self, order_id: str) -> Order:
        async with self._db.transaction() as session:
            return await self._get(session, parse_order_id(order_id))

    async def list_orders(
        self, *, customer_id: str, page_size_requested: int, page_token: str
    ) -> tuple[list[Order], str]:
        size = page_size(page_size_requested, default=50)
        customer = parse_customer_id(customer_id) if customer_id else ""
        cursor = decode_page_token(page_token, required_keys=frozenset({"t", "id", "c"}))
        if cursor is not None and cursor["c"] != customer:
            raise InvalidArgument("page_token", "belongs to a different customer_id")
        after = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None
        async with self._db.transaction() as session:
            page = await OrderRepository(session).page(
                customer_id=customer or None, limit=size + 1, after=after
            )
        if len(page) <= size:
            return page, ""
        last = page[size - 1]
        token = encode_page_token({"t": last.created_at.isoformat(), "id": last.id, "c": customer})
        return page[:size], token

    async def cancel(self, order_id: str, reason: str) -> Order:
        return await self.change_status(order_id, OrderStatus.CANCELLED, reason)

    async def change_status(self, order_id: str, target: OrderStatus, reason: str) -> Order:
        order_id = parse_order_id(order_id)
        reason = text.optional_text(reason, "reason", max_length=500)
        actor = current_actor()
        released: list[str] = []
        async with self._db.transaction() as session:
            orders = OrderRepository(session)
            order = await orders.get(order_id, for_update=True)
            if order is None:
                raise NotFound(f"order {order_id} not found")
            if order.status is target:
                return order  # a retry of a change already made
            check_transition(order.status, target)
            if target is OrderStatus.CANCELLED:
                if not reason:
                    raise InvalidArgument("reason", "is required to cancel an order")
                released = await self._release(session, order, actor)
            await orders.change_status(order_id, to=target, actor=actor, reason=reason)
            order = await self._get(session, order_id)
            await self._write_event(session, order)
        await self._after_commit(released)
        metrics.ORDER_STATUS_CHANGES.labels(target.value).inc()
        return order

    async def _get(self, session: Session, order_id: str) -> Order:
        order = await OrderRepository(session).get(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order

    async def _reserve(self, session: Session, requested: list[RequestedLine]) -> list[OrderLine]:
        products = ProductRepository(session)
        lines: list[OrderLine] = []
        for line in requested:  # sorted by SKU: a fixed lock order avoids deadlocks
            taken = await products.take_stock(line.sku, line.quantity)
            if taken is None:
                current = await products.get(line.sku)
                if current is None:
                    raise NotFound(f"product {line.sku} not found")
                if not current.active:
                    metrics.ORDER_REJECTED.labels("product_inactive").inc()
                    raise FailedPrecondition(f"product {line.sku} is no longer sold")
                metrics.ORDER_REJECTED.labels("insufficient_stock").inc()
                raise FailedPrecondition(
                    f"insufficient stock for {line.sku}: {current.stock_quantity} available, "
                    f"{line.quantity} requested"
                )
            lines.append(
                OrderLine(
                    sku=line.sku,
                    product_name=taken.name,
                    quantity=line.quantity,
                    unit_price_cents=taken.unit_price_cents,
                )
            )
        return lines

    async def _release(self, session: Session, order: Order, actor: str) -> list[str]:
        products = ProductRepository(session)
        lines = sorted(order.lines, key=lambda line: line.sku)  # same lock order as placing
        for line in lines:
            await products.adjust_stock(line.sku, line.quantity)
        await products.record_movements(
            [(line.sku, line.quantity) for line in lines],
            reason="order cancelled",
            actor=actor,
            order_id=order.id,
        )
        return [line.sku for line in lines]

    async def _write_event(self, session: Session, order: Order) -> None:
        await OutboxRepository(session).add(
            stream=ORDER_EVENTS_STREAM,
            event_type="order.status_changed",
            aggregate_id=order.id,
            payload=order_status_changed(order, order.history[-1]),
        )

    async def _after_commit(self, changed_skus: list[str]) -> None:
        self._on_event_written()
        await self._cache.invalidate(changed_skus)
