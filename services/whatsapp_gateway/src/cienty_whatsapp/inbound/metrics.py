"""Prometheus metrics of the inbound worker (`cienty_whatsapp_inbound_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PROCESSED = Counter(
    "cienty_whatsapp_inbound_processed_total",
    "Stream entries finished (acknowledged), by kind (message, status, malformed) and outcome "
    "(handled, stale, flooded, reaction, applied, early, ignored, dead_letter).",
    ["kind", "outcome"],
)
RETRIES = Counter(
    "cienty_whatsapp_inbound_retries_total",
    "Attempts that failed and will be retried after a backoff, by reason.",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "cienty_whatsapp_inbound_dead_letters_total",
    "Entries moved to the dead-letter stream, by reason (permanent, attempts, malformed).",
    ["reason"],
)
FLOOD_DROPS = Counter(
    "cienty_whatsapp_inbound_flood_drops_total",
    "Customer messages not forwarded to the agent because the number was flooding.",
)
FLOOD_REPLIES = Counter(
    "cienty_whatsapp_inbound_flood_replies_total",
    "Polite 'please wait' replies queued (one per flood episode).",
)
STALE = Counter(
    "cienty_whatsapp_inbound_stale_total",
    "Messages forwarded with the late-delivery note (older than CIENTY_STALE_MESSAGE_HOURS).",
)
HANDLE_SECONDS = Histogram(
    "cienty_whatsapp_inbound_handle_seconds",
    "HandleMessage latency, by gRPC code.",
    ["code"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 75.0, 120.0),
)
LAG_SECONDS = Histogram(
    "cienty_whatsapp_inbound_lag_seconds",
    "From the webhook's append to the stream to the entry's first attempt.",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)
MEDIA = Counter(
    "cienty_whatsapp_inbound_media_total",
    "Customer media, by outcome (stored, cached, retry, unavailable).",
    ["outcome"],
)
MARK_READ_FAILURES = Counter(
    "cienty_whatsapp_inbound_mark_read_failures_total",
    "Read receipts that could not be sent (best effort, not retried).",
)
STATUSES = Counter(
    "cienty_whatsapp_inbound_statuses_total",
    "Delivery statuses, by status and what was done (applied, kept, early, ignored).",
    ["status", "outcome"],
)
PARTITIONS_HELD = Gauge(
    "cienty_whatsapp_inbound_partitions_held",
    "Inbound partitions this process works now.",
)
