"""Orders, their lines and the status state machine."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from cienty_kit.errors import FailedPrecondition, InvalidArgument

MAX_LINES = 200
MAX_LINE_QUANTITY = 100_000


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    INVOICED = "invoiced"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Channel(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    WHATSAPP = "whatsapp"
    BACKOFFICE = "backoffice"
    API = "api"


# Where each status may go next. Cancelling is allowed until the goods leave the warehouse.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.INVOICED, OrderStatus.CANCELLED}),
    OrderStatus.INVOICED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.name for s in TRANSITIONS[current])) or "none (final status)"
        raise FailedPrecondition(
            f"order is {current.name} and cannot become {target.name}; allowed: {allowed}"
        )


@dataclass(frozen=True, slots=True)
class RequestedLine:
    sku: str
    quantity: int


def merge_lines(lines: list[RequestedLine]) -> list[RequestedLine]:
    """Validates the requested lines and merges repeated SKUs, sorted by SKU.

    Sorting fixes the order in which stock rows are locked, so concurrent orders never deadlock.
    """
    if not lines:
        raise InvalidArgument("lines", "an order needs at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidArgument("lines", f"an order has at most {MAX_LINES} lines")
    merged: dict[str, int] = {}
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidArgument(f"lines[{index}].quantity", "must be positive")
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
        if merged[line.sku] > MAX_LINE_QUANTITY:
            raise InvalidArgument(
                f"lines[{index}].quantity", f"must be at most {MAX_LINE_QUANTITY}"
            )
    return [RequestedLine(sku, quantity) for sku, quantity in sorted(merged.items())]


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    product_name: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True, slots=True)
class StatusChange:
    from_status: OrderStatus | None
    to_status: OrderStatus
    actor: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    customer_id: str
    status: OrderStatus
    channel: Channel
    lines: list[OrderLine]
    total_cents: int
    created_at: datetime
    updated_at: datetime
    cancel_reason: str = ""
    history: list[StatusChange] = field(default_factory=list)
