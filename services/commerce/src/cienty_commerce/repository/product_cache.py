"""Read-through cache of products in Redis, invalidated on every write.

Redis being away never fails a read: the cache is skipped and PostgreSQL answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cienty_commerce.domain.catalog import Product
from cienty_kit.logging import get_logger

log = get_logger(__name__)

_KEY_PREFIX = "commerce:product:v1:"


def _key(sku: str) -> str:
    return _KEY_PREFIX + sku


def _encode(product: Product) -> bytes:
    return json.dumps(
        {
            "sku": product.sku,
            "name": product.name,
            "gtin": product.gtin,
            "active_ingredient": product.active_ingredient,
            "manufacturer": product.manufacturer,
            "unit_price_cents": product.unit_price_cents,
            "stock_quantity": product.stock_quantity,
            "active": product.active,
            "description": product.description,
            "created_at": product.created_at.isoformat(),
            "updated_at": product.updated_at.isoformat(),
        },
        ensure_ascii=False,
    ).encode()


def _decode(raw: bytes) -> Product:
    data = json.loads(raw)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["updated_at"] = datetime.fromisoformat(data["updated_at"])
    return Product(**data)


class ProductCache:
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def get(self, sku: str) -> Product | None:
        try:
            raw = await self._redis.get(_key(sku))
        except RedisError as error:
            log.warning("product_cache_unavailable", error=str(error))
            return None
        if raw is None:
            return None
        return _decode(raw if isinstance(raw, bytes) else raw.encode())

    async def put(self, product: Product) -> None:
        try:
            await self._redis.set(_key(product.sku), _encode(product), ex=self._ttl)
        except RedisError as error:
            log.warning("product_cache_unavailable", error=str(error))

    async def invalidate(self, skus: Iterable[str]) -> None:
        keys = [_key(sku) for sku in skus]
        if not keys:
            return
        try:
            await self._redis.delete(*keys)
        except RedisError as error:
            # The entry expires with its TTL; until then readers may see the old product.
            log.error("product_cache_invalidation_failed", skus=list(skus), error=str(error))
