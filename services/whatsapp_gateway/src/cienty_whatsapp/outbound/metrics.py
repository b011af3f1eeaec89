"""Prometheus metrics of the outbound sender (`cienty_whatsapp_outbound_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "cienty_whatsapp_outbound_messages_total",
    "Outbound messages settled, by outcome (sent, failed, suppressed, unknown, duplicate, "
    "skipped).",
    ["outcome"],
)
SENT = Counter(
    "cienty_whatsapp_outbound_sent_total",
    "Graph API messages accepted by Meta, by kind (text, buttons, list, template).",
    ["kind"],
)
FAILURES = Counter(
    "cienty_whatsapp_outbound_failures_total",
    "Outbound messages that were not (or may not have been) delivered, by reason.",
    ["reason"],
)
RETRIES = Counter(
    "cienty_whatsapp_outbound_retries_total",
    "Sends put off to try again, by cause (retry, pair_rate, template_fallback, conversations, "
    "redis).",
    ["cause"],
)
SUPPRESSED = Counter(
    "cienty_whatsapp_outbound_suppressed_total",
    "Agent messages not sent because staff owns the conversation, by its status.",
    ["status"],
)
PACING_WAIT_SECONDS = Histogram(
    "cienty_whatsapp_outbound_pacing_wait_seconds",
    "Time a send waited for its recipient's pacing slot (only sends that had to wait).",
    buckets=(0.1, 0.5, 1, 2, 4, 6, 12, 24, 48, 96, 300),
)
SEND_SECONDS = Histogram(
    "cienty_whatsapp_outbound_send_seconds",
    "Duration of one Graph API send call, by result (ok or the error kind).",
    ["result"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
QUEUED_SECONDS = Histogram(
    "cienty_whatsapp_outbound_queued_seconds",
    "Time from the message's creation in conversations to Meta accepting its last part.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
IN_FLIGHT = Gauge(
    "cienty_whatsapp_outbound_in_flight", "Stream entries this sender holds and has not settled."
)
