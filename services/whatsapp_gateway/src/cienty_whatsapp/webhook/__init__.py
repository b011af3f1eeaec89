"""Webhook ingress: Meta's signed POSTs in, one `InboundItem` per update out, on Redis Streams.

`signature` checks `X-Hub-Signature-256` over the raw body; `models` is Meta's envelope;
`parse` turns it into items; `intake` de-duplicates and appends them atomically; `app` is the
FastAPI application (handshake, POST, health, metrics).
"""

from cienty_whatsapp.webhook.app import create_webhook_app
from cienty_whatsapp.webhook.intake import Intake
from cienty_whatsapp.webhook.parse import parse_envelope
from cienty_whatsapp.webhook.signature import sign, verify

__all__ = ["Intake", "create_webhook_app", "parse_envelope", "sign", "verify"]
