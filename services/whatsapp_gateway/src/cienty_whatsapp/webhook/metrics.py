"""Prometheus metrics of the webhook (served with the others on `CIENTY_METRICS_PORT`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# accepted, ignored (another `object`), verified / refused (handshake), unsigned (signature
# missing or wrong), malformed (not JSON), invalid (does not validate), too_large, unavailable
# (Redis down: 503, Meta redelivers).
REQUESTS = Counter(
    "cienty_whatsapp_webhook_requests_total",
    "Webhook requests, by HTTP method and outcome.",
    ["method", "outcome"],
)
LATENCY = Histogram(
    "cienty_whatsapp_webhook_seconds",
    "Time to answer a webhook request, by HTTP method.",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ITEMS = Counter(
    "cienty_whatsapp_webhook_items_total",
    "Updates received in accepted webhooks (duplicates included), by kind (message, status) "
    "and type (message type, or status).",
    ["kind", "type"],
)
DUPLICATES = Counter(
    "cienty_whatsapp_webhook_duplicates_total",
    "Updates dropped because the same update was already stored (Meta's redeliveries).",
    ["kind"],
)
ERRORS = Counter(
    "cienty_whatsapp_webhook_errors_total",
    "Webhook-level errors Meta reported in value.errors, by error code.",
    ["code"],
)
OTHER_FIELDS = Counter(
    "cienty_whatsapp_webhook_other_changes_total",
    "Changes of other subscribed fields than `messages` (acknowledged, not handled).",
    ["field"],
)
