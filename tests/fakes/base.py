"""What both fakes share: the ASGI entry point, request recording and the step runner."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

from starlette.types import Receive, Scope, Send

from tests.fakes.scripting import (
    Delay,
    DropMidStream,
    ErrorMidStream,
    Fail,
    RecordedRequest,
    Reply,
    Script,
    SlowFirstToken,
    Step,
)
from tests.fakes.server import BackgroundServer

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


class Response:
    """A complete (non-streaming) HTTP response."""

    def __init__(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.status = status
        self.body = body
        self.headers = {"content-type": content_type, **headers}

    @classmethod
    def json(cls, status: int, payload: object, headers: Mapping[str, str]) -> Response:
        return cls(status, json.dumps(payload).encode(), JSON_TYPE, headers)


class FakeLLMServer(ABC):
    """A scripted stand-in for one provider. Subclasses describe the wire format."""

    scripted_path: ClassVar[str]

    def __init__(self, default: Step) -> None:
        self.script = Script(default)
        self._server = BackgroundServer(self._app)

    # -- the test's side ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def enqueue(self, *steps: Step) -> None:
        self.script.enqueue(*steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (including ones that were refused)."""
        return self.script.requests

    @property
    def scripted_requests(self) -> list[RecordedRequest]:
        """Only the requests to the scripted endpoint, each of which consumed one step."""
        return [r for r in self.script.requests if r.path == self.scripted_path]

    @property
    def pending(self) -> int:
        """Steps queued and not yet consumed."""
        return self.script.pending

    @property
    def default(self) -> Step:
        """The step a request gets when the queue is empty."""
        return self.script.default

    @default.setter
    def default(self, step: Step) -> None:
        self.script.default = step

    def reset(self) -> None:
        """Between tests sharing a server: drop queued steps and recorded requests."""
        self.script.reset()

    # -- the wire format, per provider ----------------------------------------------------

    @abstractmethod
    def validate(self, request: RecordedRequest) -> Fail | None:
        """The error the real service would answer this request with, if any."""

    @abstractmethod
    def completion(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        """The non-streaming response body."""

    @abstractmethod
    def stream_events(self, reply: Reply, request: RecordedRequest) -> list[bytes]:
        """Every SSE event of a streamed reply, terminator included."""

    @abstractmethod
    def stream_error_events(self, step: ErrorMidStream) -> list[bytes]:
        """The in-band error, and whatever the service sends after it."""

    @abstractmethod
    def mid_stream_error_as_http(self, step: ErrorMidStream) -> Fail:
        """What a non-streaming request gets for the failure an `ErrorMidStream` models."""

    @abstractmethod
    def error_response(self, fail: Fail) -> Response:
        """The HTTP error response for `fail`."""

    @abstractmethod
    async def other_route(self, request: RecordedRequest) -> Response:
        """Anything but the scripted endpoint."""

    def common_headers(self) -> dict[str, str]:
        return {}

    # -- the server's side ----------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await _read_request(scope, receive)
        self.script.record(request)
        if request.method == "POST" and request.path == self.scripted_path:
            await self._run_step(self.script.pop(), request, send)
        else:
            await _send(send, await self.other_route(request))

    async def _run_step(self, step: Step, request: RecordedRequest, send: Send) -> None:
        while isinstance(step, Delay):
            await asyncio.sleep(step.seconds)
            step = step.then
        if isinstance(step, Fail):
            await _send(send, self.error_response(step))
            return
        refusal = self.validate(request)
        if refusal is not None:
            await _send(send, self.error_response(refusal))
            return
        reply = step if isinstance(step, Reply) else step.then
        if isinstance(request.body, dict) and request.body.get("stream") is True:
            await self._stream(step, reply, request, send)
        else:
            await self._answer(step, reply, request, send)

    async def _answer(self, step: Step, reply: Reply, request: RecordedRequest, send: Send) -> None:
        if isinstance(step, SlowFirstToken):
            await asyncio.sleep(step.seconds)
        if isinstance(step, ErrorMidStream):
            await _send(send, self.error_response(self.mid_stream_error_as_http(step)))
            return
        response = Response.json(200, self.completion(reply, request), self.common_headers())
        if isinstance(step, DropMidStream):
            # Promise the whole body, send half, then return: uvicorn closes the connection.
            await _start(send, 200, {**response.headers, "content-length": str(len(response.body))})
            await _body(send, response.body[: len(response.body) // 2], more=True)
            return
        await _send(send, response)

    async def _stream(self, step: Step, reply: Reply, request: RecordedRequest, send: Send) -> None:
        events = self.stream_events(reply, request)
        headers = {"content-type": SSE_TYPE, "cache-control": "no-cache", **self.common_headers()}
        await _start(send, 200, headers)
        if isinstance(step, SlowFirstToken):
            await _body(send, b"", more=True)  # flush the headers before the wait
            await asyncio.sleep(step.seconds)
        if isinstance(step, DropMidStream):
            await _send_events(send, events[: step.after_chunks])
            return  # without the final empty body: uvicorn aborts the chunked response
        if isinstance(step, ErrorMidStream):
            events = events[: step.after_events] + self.stream_error_events(step)
        await _send_events(send, events)
        await _body(send, b"", more=False)


async def _read_request(scope: Scope, receive: Receive) -> RecordedRequest:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return RecordedRequest(scope["method"], scope["path"], headers, body, raw)


async def _start(send: Send, status: int, headers: Mapping[str, str]) -> None:
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": encoded})


async def _body(send: Send, data: bytes, *, more: bool) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def _send(send: Send, response: Response) -> None:
    headers = {**response.headers, "content-length": str(len(response.body))}
    await _start(send, response.status, headers)
    await _body(send, response.body, more=False)


async def _send_events(send: Send, events: Sequence[bytes]) -> None:
    for event in events:
        await _body(send, event, more=True)
        # Yield so each event goes out as its own write, as a token-by-token server's would.
        await asyncio.sleep(0)


def sse(data: object, event: str | None = None) -> bytes:
    """One SSE frame. `data` that is a str is sent verbatim (e.g. `[DONE]`)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event is not None else ""
    return f"{prefix}data: {payload}\n\n".encode()
