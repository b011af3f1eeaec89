"""Commerce settings (`CIENTY_*` environment variables)."""

from __future__ import annotations

from pydantic import Field

from cienty_kit.settings import ServiceSettings


class CommerceSettings(ServiceSettings):
    database_url: str = "postgresql://postgres@localhost:5432/cienty"
    redis_url: str = "redis://localhost:6379/0"
    database_pool_size: int = Field(default=10, ge=1)
    product_cache_ttl_seconds: int = Field(default=300, ge=1)
    product_local_cache_seconds: float = Field(default=1.0, ge=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    order_events_max_length: int = Field(default=100_000, ge=1000)
    outbox_retention_hours: float = Field(default=168, gt=0)
    idempotency_retention_hours: float = Field(default=720, gt=0)
