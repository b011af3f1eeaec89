from collections.abc import Callable

import grpc
import pytest

from cienty.commerce.v1 import customers_pb2
from tests.commerce.conftest import Commerce

NewCustomer = Callable[..., customers_pb2.CreateCustomerRequest]


async def test_create_normalises_and_reads_back(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    created = await commerce.customers.CreateCustomer(
        new_customer(cnpj="11.222.333/0001-81", phone="(11) 98765-4300", email=" A@B.com.br ")
    )
    assert created.cnpj == "11222333000181"
    assert created.phone == "+5511987654300"
    assert created.email == "a@b.com.br"
    assert created.status == customers_pb2.CUSTOMER_STATUS_ACTIVE
    assert created.create_time.seconds > 0

    fetched = await commerce.customers.GetCustomer(customers_pb2.GetCustomerRequest(id=created.id))
    assert fetched == created
    by_phone = await commerce.customers.GetCustomerByPhone(
        customers_pb2.GetCustomerByPhoneRequest(phone="+55 11 98765-4300")
    )
    assert by_phone.id == created.id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cnpj": "11222333000182"}, "cnpj"),
        ({"phone": "123"}, "phone"),
        ({"legal_name": "   "}, "legal_name"),
        ({"email": "not-an-email"}, "email"),
        ({"state": "ZZ"}, "state"),
        ({"request_id": ""}, "request_id"),
    ],
)
async def test_invalid_input_names_the_field(
    commerce: Commerce, new_customer: NewCustomer, overrides: dict[str, str], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.customers.CreateCustomer(new_customer(**overrides))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.value.details() or "").startswith(f"{field}:")


async def test_duplicate_cnpj_or_phone_is_already_exists(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    first = new_customer()
    await commerce.customers.CreateCustomer(first)
    same_cnpj = new_customer(cnpj=first.cnpj)
    same_phone = new_customer(phone=first.phone)
    for request, field in ((same_cnpj, "cnpj"), (same_phone, "phone")):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await commerce.customers.CreateCustomer(request)
        assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert field in (error.value.details() or "")


async def test_retry_with_same_request_id_returns_the_original(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    request = new_customer()
    first = await commerce.customers.CreateCustomer(request)
    again = await commerce.customers.CreateCustomer(request)
    assert again.id == first.id

    changed = customers_pb2.CreateCustomerRequest()
    changed.CopyFrom(request)
    changed.legal_name = "Outra Razão Social Ltda."
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.customers.CreateCustomer(changed)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in (error.value.details() or "")


async def test_unknown_and_malformed_ids(commerce: Commerce) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await commerce.customers.GetCustomer(
            customers_pb2.GetCustomerRequest(id="6f1c1f52-4c55-4ad6-9d8f-0d5d8a9b1e11")
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await commerce.customers.GetCustomer(customers_pb2.GetCustomerRequest(id="42"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_pages_through_everyone_newest_first(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    created = [await commerce.customers.CreateCustomer(new_customer()) for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await commerce.customers.ListCustomers(
            customers_pb2.ListCustomersRequest(page_size=2, page_token=token)
        )
        assert len(page.customers) <= 2
        seen.extend(customer.id for customer in page.customers)
        token = page.next_page_token
        if not token:
            break
    assert seen == [customer.id for customer in reversed(created)]


async def test_list_query_ignores_accents_and_case(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    await commerce.customers.CreateCustomer(new_customer(legal_name="Farmácia Popular do Grajaú"))
    await commerce.customers.CreateCustomer(new_customer(legal_name="Drogaria Central"))
    page = await commerce.customers.ListCustomers(
        customers_pb2.ListCustomersRequest(query="FARMACIA GRAJAU")
    )
    assert [c.legal_name for c in page.customers] == ["Farmácia Popular do Grajaú"]


async def test_bad_page_token_and_size(commerce: Commerce) -> None:
    for request in (
        customers_pb2.ListCustomersRequest(page_token="not-a-token"),
        customers_pb2.ListCustomersRequest(page_size=-1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await commerce.customers.ListCustomers(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_changes_only_the_fields_sent(
    commerce: Commerce, new_customer: NewCustomer
) -> None:
    created = await commerce.customers.CreateCustomer(new_customer())
    updated = await commerce.customers.UpdateCustomer(
        customers_pb2.UpdateCustomerRequest(
            id=created.id, trade_name="Nova Fantasia", status=customers_pb2.CUSTOMER_STATUS_BLOCKED
        )
    )
    assert updated.trade_name == "Nova Fantasia"
    assert updated.status == customers_pb2.CUSTOMER_STATUS_BLOCKED
    assert updated.legal_name == created.legal_name
    assert updated.phone == created.phone
    assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()

    other = await commerce.customers.CreateCustomer(new_customer())
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await commerce.customers.UpdateCustomer(
            customers_pb2.UpdateCustomerRequest(id=other.id, phone=created.phone)
        )
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
