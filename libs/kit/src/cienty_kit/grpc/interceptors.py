"""The one server interceptor: service auth, error mapping, request context, RED metrics.

Domain errors are mapped to gRPC status codes here and only here. Unary handlers are wrapped
once per method and reused, so a call pays for no allocation beyond its own context.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import grpc
from prometheus_client.metrics import Counter

from cienty_kit.context import RequestContext, enter_request, leave_request
from cienty_kit.errors import DomainError, ErrorKind
from cienty_kit.logging import get_logger
from cienty_kit.metrics import RPC_HANDLED, RPC_LATENCY

log = get_logger(__name__)

STATUS_BY_KIND: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}

AUTH_EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
MAX_ACTOR_LENGTH = 128
MAX_REQUEST_ID_LENGTH = 128
UNAUTHENTICATED_MESSAGE = (
    "missing or invalid service token: send 'authorization: Bearer <token>' metadata"
)

Context = grpc.aio.ServicerContext[Any, Any]
UnaryHandler = Callable[[Any, Context], Awaitable[Any]]


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, service_token: str) -> None:
        self._expected = f"Bearer {service_token}".encode()
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        # Request ids for callers that send no x-request-id: unique per process, cheap.
        self._request_ids = (f"{os.getpid():x}-{n:x}" for n in itertools.count())

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(AUTH_EXEMPT_PREFIXES):
            return handler
        if handler.unary_unary is None:
            # Streaming (reflection): checked here, per call, and not instrumented.
            metadata = dict(handler_call_details.invocation_metadata or ())
            if not self._authorized(metadata.get("authorization")):
                return _rejecting_stream_handler(handler)
            return handler
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(cast(UnaryHandler, handler.unary_unary), method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = wrapped
        return wrapped

    def _authorized(self, header: str | bytes | None) -> bool:
        if header is None:
            return False
        given = header.encode() if isinstance(header, str) else header
        return hmac.compare_digest(given, self._expected)

    def _wrap(self, inner: UnaryHandler, method: str) -> UnaryHandler:
        service, _, name = method.lstrip("/").rpartition("/")
        latency = RPC_LATENCY.labels(service, name)
        handled: dict[grpc.StatusCode, Counter] = {}

        def count(code: grpc.StatusCode) -> Counter:
            child = handled.get(code)
            if child is None:
                child = handled[code] = RPC_HANDLED.labels(service, name, code.name)
            return child

        authorized = self._authorized
        request_ids = self._request_ids

        async def handle(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            metadata = dict(context.invocation_metadata() or ())
            if not authorized(metadata.get("authorization")):
                count(grpc.StatusCode.UNAUTHENTICATED).inc()
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
            token = enter_request(
                RequestContext(
                    rpc=method,
                    request_id=str(metadata.get("x-request-id") or next(request_ids))[
                        :MAX_REQUEST_ID_LENGTH
                    ],
                    actor=str(metadata.get("x-cienty-actor") or "service")[:MAX_ACTOR_LENGTH],
                )
            )
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except DomainError as error:
                code = STATUS_BY_KIND[error.kind]
                await context.abort(code, error.message)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                if _is_abort(error):
                    code = cast(grpc.StatusCode | None, context.code()) or grpc.StatusCode.UNKNOWN
                    raise
                code = grpc.StatusCode.INTERNAL
                log.exception("rpc_failed")
                await context.abort(code, "internal error; the failure was logged")
            finally:
                leave_request(token)
                count(code).inc()
                latency.observe(time.perf_counter() - started)

        return handle


def _is_abort(error: Exception) -> bool:
    # grpc.aio raises AbortError out of context.abort(); it is not exported publicly.
    return type(error).__name__ == "AbortError"


def _rejecting_stream_handler(
    handler: grpc.RpcMethodHandler[Any, Any],
) -> grpc.RpcMethodHandler[Any, Any]:
    async def reject(request: Any, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
        yield  # type: ignore[unreachable]  # makes this an async generator

    async def reject_unary(request: Any, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(reject, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(reject_unary, **kwargs)
    return grpc.stream_stream_rpc_method_handler(reject, **kwargs)
