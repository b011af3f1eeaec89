"""Order storage: orders with their lines and status history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cienty_commerce.domain.orders import (
    Channel,
    Order,
    OrderLine,
    OrderStatus,
    StatusChange,
)
from cienty_commerce.repository.tables import OrderLineRow, OrderRow, OrderStatusChangeRow, table


def _to_domain(row: OrderRow) -> Order:
    lines = [
        OrderLine(
            sku=line.sku,
            product_name=line.product_name,
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
        )
        for line in row.lines
    ]
    history = [
        StatusChange(
            from_status=OrderStatus(change.from_status) if change.from_status else None,
            to_status=OrderStatus(change.to_status),
            actor=change.actor,
            reason=change.reason,
            changed_at=change.changed_at,
        )
        for change in row.history
    ]
    return Order(
        id=row.id,
        customer_id=row.customer_id,
        status=OrderStatus(row.status),
        channel=Channel(row.channel),
        lines=lines,
        total_cents=row.total_cents,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancel_reason=row.cancel_reason,
        history=history,
    )


_WITH_CHILDREN = (selectinload(OrderRow.lines), selectinload(OrderRow.history))


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        order_id: str,
        customer_id: str,
        channel: Channel,
        lines: list[OrderLine],
        actor: str,
        reason: str,
    ) -> Order:
        """Inserts a PENDING order with its lines and first history entry; returns it as stored.

        Plain INSERTs (no ORM unit of work): this is the hottest write path.
        """
        total_cents = sum(line.total_cents for line in lines)
        created_at: datetime = (
            await self._session.execute(
                insert(table(OrderRow))
                .values(
                    id=order_id,
                    customer_id=customer_id,
                    status=OrderStatus.PENDING.value,
                    channel=channel.value,
                    total_cents=total_cents,
                    cancel_reason="",
                )
                .returning(table(OrderRow).c.created_at)
            )
        ).scalar_one()
        await self._session.execute(
            insert(table(OrderLineRow)),
            [
                {
                    "order_id": order_id,
                    "line_number": number,
                    "sku": line.sku,
                    "product_name": line.product_name,
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price_cents,
                }
                for number, line in enumerate(lines, start=1)
            ],
        )
        await self._session.execute(
            insert(table(OrderStatusChangeRow)).values(
                order_id=order_id,
                from_status=None,
                to_status=OrderStatus.PENDING.value,
                actor=actor,
                reason=reason,
            )
        )
        # Every default above is now(): the transaction's start time, the same for all rows.
        first = StatusChange(None, OrderStatus.PENDING, actor, reason, created_at)
        return Order(
            id=order_id,
            customer_id=customer_id,
            status=OrderStatus.PENDING,
            channel=channel,
            lines=lines,
            total_cents=total_cents,
            created_at=created_at,
            updated_at=created_at,
            history=[first],
        )

    async def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        statement = (
            select(OrderRow)
            .where(OrderRow.id == order_id)
            .options(*_WITH_CHILDREN)
            .execution_options(populate_existing=True)
        )
        if for_update:
            statement = statement.with_for_update(of=OrderRow)
        row = (await self._session.execute(statement)).scalar_one_or_none()
        return _to_domain(row) if row else None

    async def change_status(
        self, order_id: str, *, to: OrderStatus, actor: str, reason: str
    ) -> None:
        row = await self._session.get(OrderRow, order_id)
        assert row is not None, "the caller locked and read the order first"
        self._session.add(
            OrderStatusChangeRow(
                order_id=order_id,
                from_status=row.status,
                to_status=to.value,
                actor=actor,
                reason=reason,
            )
        )
        row.status = to.value
        row.updated_at = func.now()
        if to is OrderStatus.CANCELLED:
            row.cancel_reason = reason
        await self._session.flush()

    async def page(
        self, *, customer_id: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[Order]:
        statement = select(OrderRow).options(*_WITH_CHILDREN)
        if customer_id:
            statement = statement.where(OrderRow.customer_id == customer_id)
        if after is not None:
            statement = statement.where(tuple_(OrderRow.created_at, OrderRow.id) < tuple_(*after))
        statement = statement.order_by(OrderRow.created_at.desc(), OrderRow.id.desc()).limit(limit)
        rows = (await self._session.execute(statement)).scalars().all()
        return [_to_domain(row) for row in rows]
