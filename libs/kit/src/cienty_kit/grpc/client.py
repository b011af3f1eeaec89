"""Client side: a channel that sends the service token (and optionally an actor) on every call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc


class _CallerMetadata(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*self._metadata)
        for key, value in client_call_details.metadata or ():
            metadata.add(key, value)
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def service_channel(address: str, token: str, *, actor: str | None = None) -> grpc.aio.Channel:
    """An insecure channel (in-cluster traffic; mTLS belongs to the mesh) that authenticates."""
    metadata = [("authorization", f"Bearer {token}")]
    if actor:
        metadata.append(("x-cienty-actor", actor))
    return grpc.aio.insecure_channel(address, interceptors=[_CallerMetadata(tuple(metadata))])
