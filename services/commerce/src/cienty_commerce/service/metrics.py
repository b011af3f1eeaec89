"""Commerce domain metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ORDERS_CREATED = Counter(
    "cienty_commerce_orders_created_total", "Orders placed, by channel.", ["channel"]
)
ORDER_VALUE = Counter(
    "cienty_commerce_order_value_cents_total", "Value of orders placed, in centavos.", ["channel"]
)
ORDER_REJECTED = Counter(
    "cienty_commerce_orders_rejected_total", "Orders refused, by reason.", ["reason"]
)
ORDER_STATUS_CHANGES = Counter(
    "cienty_commerce_order_status_changes_total", "Order status changes, by new status.", ["status"]
)
IDEMPOTENT_REPLAYS = Counter(
    "cienty_commerce_idempotent_replays_total",
    "Create requests answered from an earlier request with the same request_id.",
    ["scope"],
)
OUTBOX_PUBLISHED = Counter(
    "cienty_commerce_outbox_published_total", "Outbox events relayed to Redis Streams."
)
OUTBOX_PENDING = Gauge(
    "cienty_commerce_outbox_pending", "Outbox events not yet relayed (sampled by the relay)."
)
OUTBOX_RELAY_FAILURES = Counter(
    "cienty_commerce_outbox_relay_failures_total", "Relay attempts that failed (e.g. Redis away)."
)
