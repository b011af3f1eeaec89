"""Runs a grpc.aio server with health, reflection and the shared interceptor, and drains it on
SIGTERM: health turns NOT_SERVING, new calls are refused, in-flight calls get a grace period."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cienty_kit.grpc.interceptors import ServerInterceptor
from cienty_kit.logging import get_logger
from cienty_kit.settings import ServiceSettings

log = get_logger(__name__)

Registrar = Callable[[grpc.aio.Server], None]


class GrpcServer:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service_names: Sequence[str],
        register: Registrar,
    ) -> None:
        self._settings = settings
        self._service_names = list(service_names)
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._server = grpc.aio.server(
            interceptors=[ServerInterceptor(settings.service_token.get_secret_value())],
            options=[("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs or None,
        )
        register(self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        self.port = 0

    async def start(self) -> int:
        address = f"{self._settings.grpc_host}:{self._settings.grpc_port}"
        self.port = self._server.add_insecure_port(address)
        await self._server.start()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("grpc_server_started", port=self.port, services=self._service_names)
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        grace = self._settings.shutdown_grace_seconds if grace is None else grace
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("grpc_server_draining", grace_seconds=grace)
        await self._server.stop(grace)
        log.info("grpc_server_stopped")

    async def serve_until_signalled(self) -> None:
        """Serves until SIGTERM or SIGINT, then drains."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for name in ["", *self._service_names]:
            await self._health.set(name, status)
