"""The pharmacies a person can chat as in the simulator.

With a commerce address, the list is commerce's own (`CustomerService/ListCustomers` over gRPC,
so the agent recognises the number); otherwise, or when commerce does not answer, it is the
fixed list below: the demo customers that `cienty demo seed` loads (a test keeps the two in
step; the gateway does not import commerce's code).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from cienty.commerce.v1 import customers_pb2, customers_pb2_grpc
from cienty_kit.grpc.client import service_channel
from cienty_kit.logging import get_logger

log = get_logger(__name__)

ACTOR = "whatsapp-simulator"
PAGE_SIZE = 200
# Far more than the demo data; a shared commerce could hold thousands.
MAX_CUSTOMERS = 1000


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    name: str
    phone: str  # E.164, e.g. +5511955309902
    city: str = ""
    state: str = ""

    @property
    def wa_id(self) -> str:
        """The WhatsApp id Meta sends in `from` and `contacts[].wa_id`: the phone's digits."""
        return "".join(ch for ch in self.phone if ch.isdigit())


# services/commerce/src/cienty_commerce/demo_data.py: trade name, phone, city, state.
DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("Drogaria São Bento", "+5511955309902", "São Paulo", "SP"),
    DemoCustomer("Farmavida", "+5519930111213", "Campinas", "SP"),
    DemoCustomer("Drogaria Copacabana Popular", "+5521959500241", "Rio de Janeiro", "RJ"),
    DemoCustomer("Farmácia Mineira do Povo", "+5531912300553", "Belo Horizonte", "MG"),
    DemoCustomer("Drogaria Araucária", "+5541950837785", "Curitiba", "PR"),
    DemoCustomer("Farmácia Gaúcha Saúde", "+5551926678348", "Porto Alegre", "RS"),
    DemoCustomer("Drogaria Bonfim", "+5571964633022", "Salvador", "BA"),
    DemoCustomer("Farmácia Boa Viagem", "+5581950190974", "Recife", "PE"),
    DemoCustomer("Drogaria Iracema", "+5585921298817", "Fortaleza", "CE"),
    DemoCustomer("Farmácia Cerrado Vida", "+5562926746921", "Goiânia", "GO"),
    DemoCustomer("Drogaria Ilha da Magia", "+5548937242388", "Florianópolis", "SC"),
    DemoCustomer("Supermercado Planalto Central", "+5561910446373", "Brasília", "DF"),
)


async def list_customers(
    commerce_addr: str, token: str, *, timeout_seconds: float = 5.0
) -> list[DemoCustomer]:
    """Every customer of commerce that has a phone, by name. Raises grpc.aio.AioRpcError."""
    channel = service_channel(commerce_addr, token, actor=ACTOR)
    try:
        stub = customers_pb2_grpc.CustomerServiceStub(channel)
        found: list[DemoCustomer] = []
        page_token = ""
        while len(found) < MAX_CUSTOMERS:
            response = await stub.ListCustomers(
                customers_pb2.ListCustomersRequest(page_size=PAGE_SIZE, page_token=page_token),
                timeout=timeout_seconds,
            )
            found.extend(
                DemoCustomer(
                    name=c.trade_name or c.legal_name,
                    phone=c.phone,
                    city=c.city,
                    state=c.state,
                )
                for c in response.customers
                if c.phone
            )
            page_token = response.next_page_token
            if not page_token:
                break
        return sorted(found, key=lambda c: c.name.casefold())
    finally:
        await channel.close(None)


async def load_customers(commerce_addr: str | None, token: str) -> list[DemoCustomer]:
    """commerce's customers, or the fixed demo list when there is no commerce to ask (or it
    does not answer, or has none: `cienty demo seed` has not run)."""
    if commerce_addr:
        try:
            customers = await list_customers(commerce_addr, token)
        except grpc.aio.AioRpcError as error:
            log.warning(
                "simulator_customers_from_demo_list",
                reason="commerce did not answer ListCustomers",
                commerce_addr=commerce_addr,
                code=error.code().name,
            )
        else:
            if customers:
                return customers
            log.warning(
                "simulator_customers_from_demo_list",
                reason="commerce has no customers (run cienty demo seed)",
                commerce_addr=commerce_addr,
            )
    return list(DEMO_CUSTOMERS)
