"""Redis client construction."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str, *, timeout_seconds: float = 2.0) -> Redis:
    """A client whose calls fail fast when Redis is away, so callers can degrade instead of hang."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
    )
    return client
