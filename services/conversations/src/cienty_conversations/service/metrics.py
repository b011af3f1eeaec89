"""Prometheus metrics of the conversations service (the agent's own are in agent.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "cienty_conversations_messages_total",
    "Customer messages received, by outcome (claimed for a turn, or a duplicate).",
    ["outcome"],
)
TURN_SECONDS = Histogram(
    "cienty_conversations_turn_seconds",
    "Time from receiving a customer message to its stored reply (model time included).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
HANDOVERS = Counter(
    "cienty_conversations_handovers_total",
    "Conversations handed over to staff, by reason.",
    ["reason"],
)
OFF_TOPIC = Counter(
    "cienty_conversations_off_topic_total", "Off-topic requests redirected without the model."
)
ORDERS_PLACED = Counter(
    "cienty_conversations_orders_placed_total", "Orders placed after a customer's confirmation."
)
NOTIFICATIONS = Counter(
    "cienty_conversations_notifications_total",
    "Order events handled by the notifier, by outcome (sent, skipped, duplicate).",
    ["outcome"],
)
OUTBOX_PENDING = Gauge(
    "cienty_conversations_outbox_pending", "Stream entries committed but not yet in Redis."
)
OUTBOX_PUBLISHED = Counter(
    "cienty_conversations_outbox_published_total", "Stream entries relayed to Redis."
)
OUTBOX_RELAY_FAILURES = Counter(
    "cienty_conversations_outbox_relay_failures_total",
    "Relay passes that failed (Redis or DB away).",
)
