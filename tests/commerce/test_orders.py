import asyncio
from collections.abc import Callable

import asyncpg
import grpc
import pytest

from cienty.commerce.v1 import catalog_pb2, customers_pb2, orders_pb2
from tests.commerce.conftest import Commerce, product_request

NewCustomer = Callable[..., customers_pb2.CreateCustomerRequest]


@pytest.fixture
async def customer(commerce: Commerce, new_customer: NewCustomer) -> customers_pb2.Customer:
    return await commerce.customers.CreateCustomer(new_customer())


def order_request(
    customer_id: str, request_id: str = "req-1", **lines: int
) -> orders_pb2.CreateOrderRequest:
    return orders_pb2.CreateOrderRequest(
        request_id=request_id,
        customer_id=customer_id,
        lines=[
            orders_pb2.CreateOrderLine(sku=sku.replace("_", "-"), quantity=q)
            for sku, q in lines.items()
        ],
        channel=orders_pb2.CHANNEL_WHATSAPP,
    )


async def stock(commerce: Commerce, sku: str) -> int:
    product = await commerce.catalog.GetProduct(catalog_pb2.GetProductRequest(sku=sku))
    return product.stock_quantity


async def test_order_reserves_stock_and_prices_lines(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request(sku="MED-1", unit_price_cents=450))
    await commerce.catalog.CreateProduct(
        product_request(sku="MED-2", gtin="7891000000014", unit_price_cents=1299, stock_quantity=3)
    )
    order = await commerce.orders.CreateOrder(order_request(customer.id, MED_2=3, MED_1=10))
    assert order.status == orders_pb2.ORDER_STATUS_PENDING
    assert [(line.sku, line.quantity, line.unit_price_cents) for line in order.lines] == [
        ("MED-1", 10, 450),
        ("MED-2", 3, 1299),
    ]
    assert order.total_cents == 10 * 450 + 3 * 1299
    assert await stock(commerce, "MED-1") == 90
    assert await stock(commerce, "MED-2") == 0
    assert order.history[0].actor == "staff:test"
    assert await commerce.orders.GetOrder(orders_pb2.GetOrderRequest(id=order.id)) == order


async def test_insufficient_stock_changes_nothing(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request(sku="MED-1", stock_quantity=100))
    await commerce.catalog.CreateProduct(
        product_request(sku="MED-2", gtin="7891000000014", stock_quantity=1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.orders.CreateOrder(order_request(customer.id, MED_1=5, MED_2=2))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "MED-2" in (error.value.details() or "")
    assert await stock(commerce, "MED-1") == 100  # the first line's reservation rolled back
    listed = await commerce.orders.ListOrders(orders_pb2.ListOrdersRequest(customer_id=customer.id))
    assert list(listed.orders) == []


async def test_inactive_product_cannot_be_ordered(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    await commerce.catalog.UpdateProduct(
        catalog_pb2.UpdateProductRequest(sku="MED-1", active=False)
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.orders.CreateOrder(order_request(customer.id, MED_1=1))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no longer sold" in (error.value.details() or "")
    assert await stock(commerce, "MED-1") == 100


async def test_blocked_customer_cannot_order(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    await commerce.customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            id=customer.id, status=customers_pb2.CUSTOMER_STATUS_BLOCKED
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.orders.CreateOrder(order_request(customer.id, MED_1=1))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "blocked" in (error.value.details() or "")


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda cid: order_request(cid, NOPE=1), grpc.StatusCode.NOT_FOUND),
        (
            lambda cid: order_request("6f1c1f52-4c55-4ad6-9d8f-0d5d8a9b1e11", MED_1=1),
            grpc.StatusCode.NOT_FOUND,
        ),
        (lambda cid: order_request(cid), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda cid: order_request(cid, MED_1=0), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda cid: order_request(cid, request_id="", MED_1=1), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda cid: order_request("x", MED_1=1), grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_bad_orders_are_refused(
    commerce: Commerce,
    customer: customers_pb2.Customer,
    make: Callable[[str], orders_pb2.CreateOrderRequest],
    code: grpc.StatusCode,
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.orders.CreateOrder(make(customer.id))
    assert error.value.code() == code
    assert await stock(commerce, "MED-1") == 100


async def test_retries_never_create_a_second_order(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    request = order_request(customer.id, "retry-me", MED_1=4)
    first = await commerce.orders.CreateOrder(request)
    again = await commerce.orders.CreateOrder(request)
    assert again == first
    assert await stock(commerce, "MED-1") == 96

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.orders.CreateOrder(order_request(customer.id, "retry-me", MED_1=5))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in (error.value.details() or "")


async def test_concurrent_retries_create_one_order(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    request = order_request(customer.id, "storm", MED_1=1)
    orders = await asyncio.gather(*(commerce.orders.CreateOrder(request) for _ in range(20)))
    assert len({order.id for order in orders}) == 1
    assert await stock(commerce, "MED-1") == 99


async def test_concurrent_orders_never_oversell(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    await commerce.catalog.CreateProduct(product_request(stock_quantity=25))
    customers = [await commerce.customers.CreateCustomer(new_customer()) for _ in range(3)]
    requests = [order_request(customers[i % 3].id, f"race-{i}", MED_1=2) for i in range(40)]
    results = await asyncio.gather(
        *(commerce.orders.CreateOrder(r) for r in requests), return_exceptions=True
    )
    placed = [r for r in results if isinstance(r, orders_pb2.Order)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(placed) == 12  # 12 x 2 = 24 <= 25 < 26
    assert len(refused) == 28
    assert all(e.code() == grpc.StatusCode.FAILED_PRECONDITION for e in refused)
    assert await stock(commerce, "MED-1") == 1


async def test_status_machine_and_history(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    order = await commerce.orders.CreateOrder(order_request(customer.id, MED_1=1))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.orders.UpdateOrderStatus(
            orders_pb2.UpdateOrderStatusRequest(id=order.id, status=orders_pb2.ORDER_STATUS_SHIPPED)
        )
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for status in (
        orders_pb2.ORDER_STATUS_CONFIRMED,
        orders_pb2.ORDER_STATUS_INVOICED,
        orders_pb2.ORDER_STATUS_SHIPPED,
        orders_pb2.ORDER_STATUS_DELIVERED,
    ):
        order = await commerce.orders.UpdateOrderStatus(
            orders_pb2.UpdateOrderStatusRequest(id=order.id, status=status, reason="ok")
        )
        assert order.status == status
    assert [change.to_status for change in order.history] == [
        orders_pb2.ORDER_STATUS_PENDING,
        orders_pb2.ORDER_STATUS_CONFIRMED,
        orders_pb2.ORDER_STATUS_INVOICED,
        orders_pb2.ORDER_STATUS_SHIPPED,
        orders_pb2.ORDER_STATUS_DELIVERED,
    ]
    assert all(change.change_time.seconds > 0 for change in order.history)
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await commerce.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id, reason="x"))
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as unspecified:
        await commerce.orders.UpdateOrderStatus(orders_pb2.UpdateOrderStatusRequest(id=order.id))
    assert unspecified.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_cancel_releases_stock_once(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    order = await commerce.orders.CreateOrder(order_request(customer.id, MED_1=30))
    assert await stock(commerce, "MED-1") == 70
    with pytest.raises(grpc.aio.AioRpcError) as no_reason:
        await commerce.orders.CancelOrder(orders_pb2.CancelOrderRequest(id=order.id))
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    cancel = orders_pb2.CancelOrderRequest(id=order.id, reason="cliente desistiu")
    cancelled = await commerce.orders.CancelOrder(cancel)
    assert cancelled.status == orders_pb2.ORDER_STATUS_CANCELLED
    assert cancelled.cancel_reason == "cliente desistiu"
    again = await commerce.orders.CancelOrder(cancel)
    assert again == cancelled
    assert await stock(commerce, "MED-1") == 100


async def test_list_orders_by_customer_pages(commerce: Commerce, new_customer: NewCustomer) -> None:
    await commerce.catalog.CreateProduct(product_request())
    alice = await commerce.customers.CreateCustomer(new_customer())
    bob = await commerce.customers.CreateCustomer(new_customer())
    mine = [
        (await commerce.orders.CreateOrder(order_request(alice.id, f"a{i}", MED_1=1))).id
        for i in range(5)
    ]
    await commerce.orders.CreateOrder(order_request(bob.id, "b", MED_1=1))
    seen: list[str] = []
    token = ""
    while True:
        page = await commerce.orders.ListOrders(
            orders_pb2.ListOrdersRequest(customer_id=alice.id, page_size=2, page_token=token)
        )
        seen.extend(order.id for order in page.orders)
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(mine))
    everyone = await commerce.orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=50))
    assert len(everyone.orders) == 6


async def test_deadline_is_honoured_and_rolls_back(
    commerce: Commerce, customer: customers_pb2.Customer
) -> None:
    await commerce.catalog.CreateProduct(product_request())
    blocker = await asyncpg.connect(commerce.settings.database_url)
    try:
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("SELECT * FROM products WHERE sku = 'MED-1' FOR UPDATE")
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await commerce.orders.CreateOrder(
                order_request(customer.id, "slow", MED_1=1), timeout=0.5
            )
        assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await asyncio.sleep(0.2)
        await lock.rollback()
    finally:
        await blocker.close()
    await asyncio.sleep(0.2)
    assert await stock(commerce, "MED-1") == 100
    listed = await commerce.orders.ListOrders(orders_pb2.ListOrdersRequest(customer_id=customer.id))
    assert list(listed.orders) == []
    # The abandoned request_id was not consumed: a retry places the order.
    order = await commerce.orders.CreateOrder(order_request(customer.id, "slow", MED_1=1))
    assert order.status == orders_pb2.ORDER_STATUS_PENDING
