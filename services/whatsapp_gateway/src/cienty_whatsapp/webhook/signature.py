"""`X-Hub-Signature-256`: HMAC-SHA256 of the raw POST body, keyed with the app secret.

Meta signs the exact bytes it sends ("sha256=" + lowercase hex); the check runs on the raw body
before anything is parsed (re-serialised JSON would hash differently), and compares in constant
time. Source: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/create-webhook-endpoint
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for `body` (the simulator, tests and benchmarks sign
    with it)."""
    return PREFIX + hmac.digest(app_secret.encode(), body, hashlib.sha256).hex()


def verify(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `header` is the signature of `body` under `app_secret`. A missing header, another
    scheme than `sha256=` or an empty secret never verifies."""
    if not header or not app_secret or not header.startswith(PREFIX):
        return False
    expected = sign(body, app_secret).encode("ascii")
    # Headers are Latin-1 on the wire; bytes keep compare_digest constant-time for any input.
    received = header.strip().lower().encode("latin-1", errors="replace")
    return hmac.compare_digest(expected, received)
