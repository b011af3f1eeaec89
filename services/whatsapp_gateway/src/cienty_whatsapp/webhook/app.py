"""The webhook's FastAPI application: Meta's handshake, signed POSTs, health.

`POST /webhook` only verifies, parses, de-duplicates and appends to Redis, then answers: no
other network call, so Meta gets its 200 within milliseconds. The answers:

- 413: body over `CIENTY_WEBHOOK_MAX_BODY_BYTES` (by Content-Length, or counted while reading);
- 401: `X-Hub-Signature-256` missing or wrong, checked on the raw bytes before any parsing;
- 400: not JSON, or a `whatsapp_business_account` payload that does not validate; nothing stored;
- 200 `{"ok": true, "ignored": true}`: another `object` (Meta's other products);
- 503: Redis unreachable; nothing stored, Meta redelivers;
- 200 `{"ok": true}`: every update stored (or known already).

Sources: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/create-webhook-endpoint
(handshake, signature, retries) and .../whatsapp/webhooks/overview (batches, 3 MB payloads).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter, Histogram
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from cienty_kit.logging import get_logger
from cienty_whatsapp.items import InboundItem
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.webhook import metrics
from cienty_whatsapp.webhook.intake import Intake, dedupe_ttl_seconds
from cienty_whatsapp.webhook.models import KNOWN_TYPES, WHATSAPP_OBJECT, Envelope
from cienty_whatsapp.webhook.parse import parse_envelope
from cienty_whatsapp.webhook.signature import HEADER, verify

log = get_logger("cienty_whatsapp.webhook")

PATH = "/webhook"
STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})
READY_TIMEOUT_SECONDS = 1.0

_OK = b'{"ok":true}'
_IGNORED = b'{"ok":true,"ignored":true}'


class _TooLarge(Exception):
    pass


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes without reading past them."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _label(item: InboundItem) -> str:
    if item.kind == "message":
        return item.type if item.type in KNOWN_TYPES else "other"
    return item.status if item.status in STATUSES else "other"


def _refusal(body: bytes, error: ValidationError) -> tuple[str, Response]:
    """Why a body did not validate as our envelope: not JSON (400), another Meta product's
    object (200, ignored), or an envelope that does not validate (400)."""
    try:
        data: Any = json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        log.warning("webhook body is not JSON", size_bytes=len(body))
        return "malformed", _error(400, "body is not JSON")
    if not isinstance(data, dict):
        return "malformed", _error(400, "body is not a JSON object")
    if data.get("object") != WHATSAPP_OBJECT:
        log.info("webhook for another object ignored", object=str(data.get("object"))[:64])
        return "ignored", _json(200, _IGNORED)
    # Where and what, never the values (they are customers' messages and numbers).
    problems = [
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}"
        for e in error.errors(include_url=False, include_input=False)[:5]
    ]
    log.warning("webhook payload does not validate", problems=problems)
    return "invalid", _error(400, "payload does not validate: " + "; ".join(problems))


# The metrics' labelled children, looked up once (labels() costs as much as the rest of a
# counter increment).
@cache
def _requests(method: str, outcome: str) -> Counter:
    return metrics.REQUESTS.labels(method, outcome)


@cache
def _latency(method: str) -> Histogram:
    return metrics.LATENCY.labels(method)


@cache
def _items(kind: str, label: str) -> Counter:
    return metrics.ITEMS.labels(kind, label)


@cache
def _duplicates(kind: str) -> Counter:
    return metrics.DUPLICATES.labels(kind)


def create_webhook_app(settings: GatewaySettings, redis: Redis) -> FastAPI:
    """The webhook application over `redis` (the caller owns the client: its timeouts bound how
    long a POST waits for Redis before answering 503)."""
    app_secret = settings.whatsapp_app_secret.get_secret_value()
    verify_token = settings.whatsapp_verify_token.get_secret_value().encode()
    limit = settings.webhook_max_body_bytes
    intake = Intake(
        redis,
        partitions=settings.inbound_partitions,
        dedupe_ttl_seconds=dedupe_ttl_seconds(settings.dedupe_ttl_hours),
    )
    app = FastAPI(
        title="Cienty WhatsApp webhook",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    async def handshake(request: Request) -> Response:
        """Meta's verification request: `hub.mode=subscribe`, our verify token, and a challenge
        to echo back."""
        started = time.perf_counter()
        query = request.query_params
        mode = query.get("hub.mode", "")
        token = query.get("hub.verify_token", "").encode()
        challenge = query.get("hub.challenge", "")
        valid = hmac.compare_digest(token, verify_token) and bool(verify_token)
        response: Response
        if mode == "subscribe" and valid and challenge:
            outcome, response = "verified", PlainTextResponse(challenge)
        else:
            log.warning("webhook verification refused", mode=mode[:32])
            outcome, response = "refused", _error(403, "verification refused")
        _requests("GET", outcome).inc()
        _latency("GET").observe(time.perf_counter() - started)
        return response

    async def receive(request: Request) -> tuple[str, Response]:
        try:
            body = await _read_body(request, limit)
        except _TooLarge:
            log.warning("webhook body too large", limit_bytes=limit)
            return "too_large", _error(413, f"body over {limit} bytes")
        if not verify(body, request.headers.get(HEADER), app_secret):
            log.warning("webhook signature missing or wrong", present=HEADER in request.headers)
            return "unsigned", _error(401, "signature missing or wrong")
        try:
            # The usual case in one step: pydantic parses and validates the raw JSON.
            envelope = Envelope.model_validate_json(body)
        except ValidationError as error:
            return _refusal(body, error)
        if envelope.object != WHATSAPP_OBJECT:
            log.info("webhook for another object ignored", object=envelope.object[:64])
            return "ignored", _json(200, _IGNORED)

        parsed = parse_envelope(envelope)
        for problem in parsed.errors:
            metrics.ERRORS.labels(str(problem.code)).inc()
            log.warning(
                "webhook-level error from Meta",
                code=problem.code,
                title=problem.title,
                details=problem.error_data.details if problem.error_data else "",
            )
        for field in parsed.other_changes:
            metrics.OTHER_FIELDS.labels(field).inc()
        try:
            stored = await intake.append_each(parsed.items)
        except (RedisError, OSError) as error:
            log.error("webhook not stored: Redis unavailable", error=type(error).__name__)
            return "unavailable", _error(503, "storage unavailable, retry later")

        for item, new in zip(parsed.items, stored, strict=True):
            _items(item.kind, _label(item)).inc()
            if not new:
                _duplicates(item.kind).inc()
        return "accepted", _json(200, _OK)

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        outcome, response = await receive(request)
        _requests("POST", outcome).inc()
        _latency("POST").observe(time.perf_counter() - started)
        return response

    async def healthz(request: Request) -> Response:
        """Liveness: the process answers."""
        return _json(200, b'{"status":"ok"}')

    async def readyz(request: Request) -> Response:
        """Readiness: Redis answers PING (without it every POST would be a 503)."""
        try:
            await asyncio.wait_for(redis.ping(), READY_TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("not ready: Redis unavailable", error=type(error).__name__)
            return _json(503, b'{"status":"unavailable","redis":false}')
        return _json(200, b'{"status":"ok","redis":true}')

    # Plain Starlette routes: the handlers take the request as it is, so FastAPI's dependency
    # resolution (query, cookies...) is not paid on every webhook.
    app.add_route(PATH, handshake, methods=["GET"])
    app.add_route(PATH, webhook, methods=["POST"])
    app.add_route("/healthz", healthz, methods=["GET"])
    app.add_route("/readyz", readyz, methods=["GET"])
    return app
