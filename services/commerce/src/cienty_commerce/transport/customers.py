"""CustomerService over gRPC."""

from __future__ import annotations

from typing import Any

import grpc

from cienty.commerce.v1 import customers_pb2, customers_pb2_grpc
from cienty_commerce.domain.customers import CustomerChanges, NewCustomer
from cienty_commerce.service.customers import CustomerService
from cienty_commerce.transport.convert import customer_status, customer_to_pb
from cienty_commerce.transport.convert import optional_field as _optional

Context = grpc.aio.ServicerContext[Any, Any]


class CustomerServicer(customers_pb2_grpc.CustomerServiceServicer):
    def __init__(self, service: CustomerService) -> None:
        self._service = service

    async def CreateCustomer(
        self, request: customers_pb2.CreateCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        customer = await self._service.create(
            request.request_id,
            NewCustomer(
                cnpj=request.cnpj,
                legal_name=request.legal_name,
                trade_name=request.trade_name,
                phone=request.phone,
                email=request.email,
                state=request.state,
                city=request.city,
            ),
        )
        return customer_to_pb(customer)

    async def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        return customer_to_pb(await self._service.get(request.id))

    async def GetCustomerByPhone(
        self, request: customers_pb2.GetCustomerByPhoneRequest, context: Context
    ) -> customers_pb2.Customer:
        return customer_to_pb(await self._service.get_by_phone(request.phone))

    async def ListCustomers(
        self, request: customers_pb2.ListCustomersRequest, context: Context
    ) -> customers_pb2.ListCustomersResponse:
        customers, token = await self._service.list_customers(
            query=request.query,
            page_size_requested=request.page_size,
            page_token=request.page_token,
        )
        return customers_pb2.ListCustomersResponse(
            customers=[customer_to_pb(c) for c in customers], next_page_token=token
        )

    async def UpdateCustomer(
        self, request: customers_pb2.UpdateCustomerRequest, context: Context
    ) -> customers_pb2.Customer:
        changes = CustomerChanges(
            legal_name=_optional(request, "legal_name"),
            trade_name=_optional(request, "trade_name"),
            phone=_optional(request, "phone"),
            email=_optional(request, "email"),
            status=customer_status(request.status) if request.HasField("status") else None,
            state=_optional(request, "state"),
            city=_optional(request, "city"),
        )
        return customer_to_pb(await self._service.update(request.id, changes))
