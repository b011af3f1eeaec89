"""Prometheus metrics: RED metrics for RPCs, and the HTTP endpoint that exposes them."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

RPC_HANDLED = Counter(
    "cienty_grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_LATENCY = Histogram(
    "cienty_grpc_server_handling_seconds",
    "Time to handle an RPC on the server.",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def start_metrics_server(port: int, host: str = "0.0.0.0") -> None:
    """Serves `/metrics` over HTTP from a daemon thread; port 0 disables it."""
    if port:
        start_http_server(port, addr=host)
