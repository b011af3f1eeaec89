"""The one server interceptor: service auth, error mapping, request context, RED metrics.

Domain errors are mapped to gRPC status codes here and only here.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import grpc
import structlog

from cienty_kit.context import reset_actor, set_actor
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

UnaryHandler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, service_token: str) -> None:
        self._expected = f"Bearer {service_token}".encode()
        self._labels: dict[str, tuple[str, str]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(AUTH_EXEMPT_PREFIXES):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        if not self._authorized(metadata.get("authorization")):
            return _rejecting_handler(handler)
        if handler.unary_unary is None:
            return handler
        actor = str(metadata.get("x-cienty-actor") or "service")[:MAX_ACTOR_LENGTH]
        request_id = str(metadata.get("x-request-id") or uuid.uuid4().hex)
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(cast(UnaryHandler, handler.unary_unary), method, actor, request_id),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authorized(self, header: str | bytes | None) -> bool:
        if header is None:
            return False
        given = header.encode() if isinstance(header, str) else header
        return hmac.compare_digest(given, self._expected)

    def _split(self, method: str) -> tuple[str, str]:
        labels = self._labels.get(method)
        if labels is None:
            service, _, name = method.lstrip("/").rpartition("/")
            labels = self._labels[method] = (service, name)
        return labels

    def _wrap(self, inner: UnaryHandler, method: str, actor: str, request_id: str) -> UnaryHandler:
        service, name = self._split(method)

        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            actor_token = set_actor(actor)
            structlog.contextvars.bind_contextvars(rpc=method, request_id=request_id)
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
                reset_actor(actor_token)
                structlog.contextvars.unbind_contextvars("rpc", "request_id")
                RPC_HANDLED.labels(service, name, code.name).inc()
                RPC_LATENCY.labels(service, name).observe(time.perf_counter() - started)

        return handle


def _is_abort(error: Exception) -> bool:
    # grpc.aio raises AbortError out of context.abort(); it is not exported publicly.
    return type(error).__name__ == "AbortError"


def _rejecting_handler(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    message = "missing or invalid service token: send 'authorization: Bearer <token>' metadata"

    async def reject_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def reject_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # type: ignore[unreachable]  # makes this an async generator

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(reject_unary, **kwargs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(reject_stream, **kwargs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(reject_unary, **kwargs)
    return grpc.stream_stream_rpc_method_handler(reject_stream, **kwargs)
