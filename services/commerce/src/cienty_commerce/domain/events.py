"""Events that commerce publishes for other services."""

from __future__ import annotations

from typing import Any

from cienty_commerce.domain.orders import Order, StatusChange

ORDER_EVENTS_STREAM = "commerce.order-events"


def order_status_changed(order: Order, change: StatusChange) -> dict[str, Any]:
    """The payload of an `order.status_changed` event (JSON)."""
    return {
        "type": "order.status_changed",
        "order_id": order.id,
        "customer_id": order.customer_id,
        "from_status": change.from_status.value if change.from_status else None,
        "to_status": change.to_status.value,
        "actor": change.actor,
        "reason": change.reason,
        "total_cents": order.total_cents,
        "channel": order.channel.value,
        "occurred_at": change.changed_at.isoformat(),
    }
