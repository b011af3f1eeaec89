"""Fingerprints of create requests, to tell a retry from a different request."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cienty_kit.errors import InvalidArgument


def fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def reused_request_id() -> InvalidArgument:
    return InvalidArgument(
        "request_id",
        "was already used for a different request; send a new request_id for a new operation",
    )
