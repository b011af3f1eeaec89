"""Read-through cache of products: a short-lived in-process layer over Redis, invalidated on
every write.

The in-process layer saves a Redis round trip on hot products; it is invalidated on writes made
through this process and otherwise lives `local_ttl_seconds` (so another replica's write shows
here within that time). Redis being away never fails a read: PostgreSQL answers.
"""

from __future__ import annotations

import json
import time
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
    def __init__(
        self,
        redis: Redis,
        *,
        ttl_seconds: int,
        local_ttl_seconds: float = 0.0,
        local_max_entries: int = 10_000,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._local_ttl = local_ttl_seconds
        self._local_max = local_max_entries
        self._local: dict[str, tuple[float, Product]] = {}

    def _remember(self, product: Product) -> None:
        if self._local_ttl <= 0:
            return
        if len(self._local) >= self._local_max:
            self._local.pop(next(iter(self._local)))  # the oldest entry
        self._local[product.sku] = (time.monotonic() + self._local_ttl, product)

    async def get(self, sku: str) -> Product | None:
        local = self._local.get(sku)
        if local is not None:
            if local[0] > time.monotonic():
                return local[1]
            del self._local[sku]
        try:
            raw = await self._redis.get(_key(sku))
        except RedisError as error:
            log.warning("product_cache_unavailable", error=str(error))
            return None
        if raw is None:
            return None
        product = _decode(raw if isinstance(raw, bytes) else raw.encode())
        self._remember(product)
        return product

    async def put(self, product: Product) -> None:
        self._remember(product)
        try:
            await self._redis.set(_key(product.sku), _encode(product), ex=self._ttl)
        except RedisError as error:
            log.warning("product_cache_unavailable", error=str(error))

    async def invalidate(self, skus: Iterable[str]) -> None:
        skus = list(skus)
        for sku in skus:
            self._local.pop(sku, None)
        keys = [_key(sku) for sku in skus]
        if not keys:
            return
        try:
            await self._redis.delete(*keys)
        except RedisError as error:
            # The entry expires with its TTL; until then readers may see the old product.
            log.error("product_cache_invalidation_failed", skus=list(skus), error=str(error))
