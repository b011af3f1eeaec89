"""A local stand-in of the WhatsApp Cloud API (Graph API) with its real wire format.

It records what the gateway sends (`POST /{version}/{phone_number_id}/messages`: messages and
read receipts), serves media (`GET /{version}/{media_id}`, then the URL it returns), and can
be told to fail the next sends with Meta's error bodies (429 throughput, 5xx, 131047 outside
the 24-hour window, 131056 pair rate, 131026 undeliverable...). The simulator shows what it
received; the tests script it. Mount it at any base URL; the gateway's
`CIENTY_WHATSAPP_GRAPH_URL` is `<base>/<version>`.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

VERSION = "v23.0"


@dataclass(frozen=True)
class GraphFailure:
    """The next send answers with this HTTP status and Meta error `code`."""

    status: int
    code: int
    message: str
    details: str = ""
    retry_after: float | None = None

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": f"(#{self.code}) {self.message}",
                "type": "OAuthException",
                "code": self.code,
                "error_data": {"messaging_product": "whatsapp", "details": self.details},
                "fbtrace_id": "AbCdEfGhIjKlMnOp",
            }
        }


THROUGHPUT = GraphFailure(
    429, 130429, "Rate limit hit", "Cloud API message throughput has been reached."
)
SERVER_ERROR = GraphFailure(500, 131000, "Something went wrong", "Something went wrong")
WINDOW_CLOSED = GraphFailure(
    400,
    131047,
    "Re-engagement message",
    "More than 24 hours have passed since the recipient last replied to the sender number.",
)
PAIR_RATE = GraphFailure(
    400, 131056, "(Business Account, Consumer Account) pair rate limit hit", "Too many messages"
)
UNDELIVERABLE = GraphFailure(400, 131026, "Message Undeliverable", "Message Undeliverable.")


@dataclass
class SentMessage:
    wamid: str
    payload: dict[str, Any]
    received_at: float


@dataclass
class GraphState:
    """What the stand-in received, and what it will answer next. Thread-safe: tests and the
    simulator read it from other threads than the server's."""

    access_token: str | None = None
    sent: list[SentMessage] = field(default_factory=list)
    read_receipts: list[str] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    failures: deque[GraphFailure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, *failures: GraphFailure) -> None:
        with self._lock:
            self.failures.extend(failures)

    def add_media(self, media_id: str, mime_type: str, content: bytes) -> None:
        with self._lock:
            self.media[media_id] = (mime_type, content)

    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self.sent)

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.read_receipts.clear()
            self.failures.clear()
            self.media.clear()

    def _next_failure(self) -> GraphFailure | None:
        with self._lock:
            return self.failures.popleft() if self.failures else None

    def _record(self, payload: dict[str, Any]) -> str:
        with self._lock:
            wamid = f"wamid.SIM{next(self._ids):012d}"
            self.sent.append(SentMessage(wamid, payload, time.time()))
            return wamid


def create_graph_api(state: GraphState) -> FastAPI:
    app = FastAPI(title="WhatsApp Cloud API stand-in", docs_url=None, redoc_url=None)

    def unauthorized(request: Request) -> Response | None:
        if state.access_token is None:
            return None
        if request.headers.get("authorization") != f"Bearer {state.access_token}":
            return JSONResponse(
                GraphFailure(401, 190, "Error validating access token").body(), status_code=401
            )
        return None

    @app.post("/{version}/{phone_number_id}/messages")
    async def messages(version: str, phone_number_id: str, request: Request) -> Response:
        refused = unauthorized(request)
        if refused is not None:
            return refused
        payload = await request.json()
        if payload.get("messaging_product") != "whatsapp":
            return JSONResponse(
                GraphFailure(400, 100, "Invalid parameter", "messaging_product").body(), 400
            )
        if payload.get("status") == "read":
            with state._lock:
                state.read_receipts.append(str(payload.get("message_id")))
            return JSONResponse({"success": True})
        failure = state._next_failure()
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["retry-after"] = f"{failure.retry_after:g}"
            return JSONResponse(failure.body(), status_code=failure.status, headers=headers)
        wamid = state._record(payload)
        to = str(payload.get("to", ""))
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid}],
            }
        )

    # Before `/{version}/{media_id}`, which would match it too.
    @app.get("/media-download/{media_id}", name="media_bytes")
    async def media_bytes(media_id: str, request: Request) -> Response:
        refused = unauthorized(request)
        if refused is not None:
            return refused
        found = state.media.get(media_id)
        if found is None:
            return Response(status_code=404)
        mime_type, content = found
        return Response(content, media_type=mime_type)

    @app.get("/{version}/{media_id}")
    async def media_info(version: str, media_id: str, request: Request) -> Response:
        refused = unauthorized(request)
        if refused is not None:
            return refused
        found = state.media.get(media_id)
        if found is None:
            return JSONResponse(GraphFailure(404, 100, "Unsupported get request").body(), 404)
        mime_type, content = found
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": str(request.url_for("media_bytes", media_id=media_id)),
                "mime_type": mime_type,
                "sha256": hashlib.sha256(content).hexdigest(),
                "file_size": len(content),
                "id": media_id,
            }
        )

    return app
