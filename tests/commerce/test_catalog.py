import asyncio

import grpc
import pytest

from cienty.commerce.v1 import catalog_pb2
from cienty_commerce.demo import seed_demo
from tests.commerce.conftest import Commerce, product_request


async def test_create_and_get_product(commerce: Commerce) -> None:
    created = await commerce.catalog.CreateProduct(product_request())
    assert created.active
    assert created.stock_quantity == 100
    fetched = await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MED-1"))
    assert fetched == created


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": ""}, "sku"),
        ({"sku": "tem espaço"}, "sku"),
        ({"gtin": "7891234567890"}, "gtin"),
        ({"unit_price_cents": 0}, "unit_price_cents"),
        ({"stock_quantity": -1}, "stock_quantity"),
        ({"name": ""}, "name"),
    ],
)
async def test_invalid_product_names_the_field(
    commerce: Commerce, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.catalog.CreateProduct(product_request(**overrides))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.value.details() or "").startswith(f"{field}:")


async def test_duplicate_sku_and_gtin(commerce: Commerce) -> None:
    await commerce.catalog.CreateProduct(product_request())
    for request, field in (
        (product_request(gtin="7891000000014"), "sku"),
        (product_request(sku="MED-2"), "gtin"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await commerce.catalog.CreateProduct(request)
        assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert field in (error.value.details() or "")
    # Products without a barcode do not collide with each other.
    await commerce.catalog.CreateProduct(product_request(sku="A", gtin=""))
    await commerce.catalog.CreateProduct(product_request(sku="B", gtin=""))


async def test_unknown_product_is_not_found(commerce: Commerce) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="NOPE"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def _search(commerce: Commerce, query: str, **kwargs: object) -> list[str]:
    response = await commerce.catalog.SearchProducts(
        catalog_pb2.SearchProductsRequest(query=query, **kwargs)  # type: ignore[arg-type]
    )
    return [product.name for product in response.products]


@pytest.fixture
async def demo_catalog(commerce: Commerce) -> Commerce:
    await seed_demo(commerce.app.customers, commerce.app.catalog)
    return commerce


@pytest.mark.parametrize(
    "query", ["dipirona", "DIPIRONA SODICA", "dipirôna", "dipirna", "Dipirona Sódica 500"]
)
async def test_search_finds_dipirona_despite_case_accents_and_typos(
    demo_catalog: Commerce, query: str
) -> None:
    names = await _search(demo_catalog, query)
    assert names, query
    assert all("dipirona" in name.lower() for name in names[:3]), names
    assert "Dipirona Sódica 500 mg 10 Comprimidos" in names


async def test_search_ranks_the_closest_name_first(demo_catalog: Commerce) -> None:
    names = await _search(demo_catalog, "paracetamol 750")
    assert names[0].startswith("Paracetamol 750 mg")


async def test_search_matches_ingredients_and_manufacturers(demo_catalog: Commerce) -> None:
    by_ingredient = await demo_catalog.catalog.SearchProducts(
        catalog_pb2.SearchProductsRequest(query="losartana potassica", page_size=50)
    )
    ingredients = [p.active_ingredient for p in by_ingredient.products]
    assert ingredients[:3] == ["losartana potássica"] * 3, ingredients
    by_maker = await demo_catalog.catalog.SearchProducts(
        catalog_pb2.SearchProductsRequest(query="medley", page_size=50)
    )
    assert by_maker.products
    assert all(p.manufacturer == "Medley" for p in by_maker.products)


async def test_search_without_match_is_empty(demo_catalog: Commerce) -> None:
    assert await _search(demo_catalog, "xyzzyqwerty") == []


async def test_search_pages_without_repeats(demo_catalog: Commerce) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(100):
        response = await demo_catalog.catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query="", page_size=7, page_token=token)
        )
        seen.extend(p.sku for p in response.products)
        token = response.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert len(seen) >= 50
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await demo_catalog.catalog.SearchProducts(
            catalog_pb2.SearchProductsRequest(query="dipirona", page_token=token or "e30")
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_inactive_products_leave_search(demo_catalog: Commerce) -> None:
    before = await _search(demo_catalog, "omeprazol", page_size=50)
    target = await demo_catalog.catalog.SearchProducts(
        catalog_pb2.SearchProductsRequest(query="omeprazol", page_size=1)
    )
    await demo_catalog.catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(sku=target.products[0].sku, active=False)
    )
    after = await _search(demo_catalog, "omeprazol", page_size=50)
    assert len(after) == len(before) - 1
    everything = await _search(demo_catalog, "omeprazol", page_size=50, include_inactive=True)
    assert len(everything) == len(before)


async def test_reads_are_cached_and_writes_invalidate(commerce: Commerce) -> None:
    await commerce.catalog.CreateProduct(product_request())
    key = "commerce:product:v1:MED-1"
    assert await commerce.redis.get(key) is None
    await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MED-1"))
    assert await commerce.redis.get(key) is not None

    updated = await commerce.catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(sku="MED-1", unit_price_cents=499)
    )
    assert updated.unit_price_cents == 499
    assert await commerce.redis.get(key) is None
    fetched = await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MED-1"))
    assert fetched.unit_price_cents == 499

    await commerce.catalog.AdjustStock(
        catalog_pb2.AdjustStockRequest(sku="MED-1", delta=-10, reason="avaria")
    )
    fetched = await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MED-1"))
    assert fetched.stock_quantity == 90


async def test_cache_outage_falls_back_to_the_database(commerce: Commerce) -> None:
    await commerce.catalog.CreateProduct(product_request())
    cache = commerce.app.catalog._cache
    real_redis = cache._redis
    from redis.asyncio import Redis

    cache._redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        fetched = await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku="MED-1"))
        assert fetched.sku == "MED-1"
    finally:
        await cache._redis.aclose()
        cache._redis = real_redis


async def test_adjust_stock_never_goes_negative(commerce: Commerce) -> None:
    await commerce.catalog.CreateProduct(product_request(stock_quantity=5))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.catalog.AdjustStock(
            catalog_pb2.AdjustStockRequest(sku="MED-1", delta=-6, reason="inventário")
        )
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for request, field in (
        (catalog_pb2.AdjustStockRequest(sku="MED-1", delta=0, reason="x"), "delta"),
        (catalog_pb2.AdjustStockRequest(sku="MED-1", delta=1, reason=""), "reason"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await commerce.catalog.AdjustStock(request)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (invalid.value.details() or "").startswith(field)
    product = await commerce.catalog.AdjustStock(
        catalog_pb2.AdjustStockRequest(sku="MED-1", delta=-5, reason="inventário")
    )
    assert product.stock_quantity == 0


async def test_local_cache_layer_expires(commerce: Commerce) -> None:
    from cienty_commerce.repository.product_cache import ProductCache
    from cienty_commerce.service.catalog import CatalogService

    await commerce.catalog.CreateProduct(product_request())
    cache = ProductCache(commerce.redis, ttl_seconds=60, local_ttl_seconds=0.2)
    catalog = CatalogService(commerce.database, cache)
    await catalog.get("MED-1")
    await commerce.redis.delete("commerce:product:v1:MED-1")
    # Another replica changes the price: this process sees it once its local entry expires.
    await commerce.catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(sku="MED-1", unit_price_cents=999)
    )
    assert (await catalog.get("MED-1")).unit_price_cents == 450
    await asyncio.sleep(0.25)
    assert (await catalog.get("MED-1")).unit_price_cents == 999
