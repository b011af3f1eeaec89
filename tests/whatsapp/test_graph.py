"""The Graph API client against the stand-in: payloads, answers and the error classes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cienty_whatsapp import graph
from cienty_whatsapp.graph import GraphClient, GraphError
from cienty_whatsapp.simulator.graph_api import (
    PAIR_RATE,
    SERVER_ERROR,
    THROUGHPUT,
    UNDELIVERABLE,
    VERSION,
    WINDOW_CLOSED,
    GraphFailure,
    GraphState,
    create_graph_api,
)

TOKEN = "test-access-token"


@pytest.fixture
def state() -> GraphState:
    return GraphState(access_token=TOKEN)


@pytest.fixture
async def client(state: GraphState) -> AsyncIterator[GraphClient]:
    transport = httpx.ASGITransport(app=create_graph_api(state))
    client = GraphClient(f"http://graph.test/{VERSION}", "1234", TOKEN, transport=transport)
    yield client
    await client.aclose()


async def test_a_send_returns_the_wamid_and_the_stand_in_records_it(
    client: GraphClient, state: GraphState
) -> None:
    wamid = await client.send(graph.text_message("+5511987654321", "Olá!"))
    [sent] = state.messages()
    assert sent.wamid == wamid
    assert sent.payload["text"] == {"preview_url": False, "body": "Olá!"}
    await client.mark_read("wamid.IN1")
    assert state.read_receipts == ["wamid.IN1"]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (THROUGHPUT, "retry"),
        (SERVER_ERROR, "retry"),
        (WINDOW_CLOSED, "window_closed"),
        (PAIR_RATE, "pair_rate"),
        (UNDELIVERABLE, "permanent"),
        (GraphFailure(400, 132001, "Template name does not exist in the translation"), "permanent"),
    ],
)
async def test_errors_are_classified_by_metas_code(
    client: GraphClient, state: GraphState, failure: GraphFailure, kind: str
) -> None:
    state.fail_next(failure)
    with pytest.raises(GraphError) as caught:
        await client.send(graph.text_message("+5511987654321", "Olá!"))
    assert caught.value.kind == kind
    assert caught.value.code == failure.code
    assert state.messages() == []


async def test_a_wrong_token_is_an_auth_failure(state: GraphState) -> None:
    transport = httpx.ASGITransport(app=create_graph_api(state))
    client = GraphClient(f"http://graph.test/{VERSION}", "1234", "wrong", transport=transport)
    with pytest.raises(GraphError) as caught:
        await client.send(graph.text_message("+5511987654321", "Olá!"))
    await client.aclose()
    assert caught.value.is_auth_failure
    assert caught.value.kind == "permanent"


async def test_media_is_fetched_in_two_steps(client: GraphClient, state: GraphState) -> None:
    state.add_media("987", "image/jpeg", b"\xff\xd8jpeg")
    info = await client.media_info("987")
    assert (info.mime_type, info.file_size) == ("image/jpeg", 6)
    assert await client.download(info.url, max_bytes=100) == b"\xff\xd8jpeg"
    with pytest.raises(GraphError, match="larger than"):
        await client.download(info.url, max_bytes=3)
    with pytest.raises(GraphError):
        await client.media_info("missing")


async def test_an_unreachable_api_is_retryable() -> None:
    client = GraphClient("http://127.0.0.1:1/v23.0", "1234", TOKEN)
    with pytest.raises(GraphError) as caught:
        await client.send(graph.text_message("+5511987654321", "Olá!"))
    await client.aclose()
    assert caught.value.kind == "retry"


def test_payloads_respect_the_apis_limits() -> None:
    buttons = graph.buttons_message(
        "+55",
        "Confirma?",
        [("confirmar:1", "Confirmar pedido agora mesmo"), ("recusar:1", "Cancelar")],
    )
    titles = [b["reply"]["title"] for b in buttons["interactive"]["action"]["buttons"]]
    assert titles == ["Confirmar pedido ago", "Cancelar"]
    with pytest.raises(ValueError, match="1 to 3"):
        graph.buttons_message("+55", "x", [("a", "a")] * 4)
    rows = graph.list_message(
        "+55", "Escolha", "Ver opções", [(f"r{n}", f"opção {n}") for n in range(10)]
    )
    assert len(rows["interactive"]["action"]["sections"][0]["rows"]) == 10
    template = graph.template_message("+55", "atualizacao_pedido", "pt_BR", ["#1A2B", "enviado"])
    assert template["template"]["language"] == {"code": "pt_BR"}
    assert [p["text"] for p in template["template"]["components"][0]["parameters"]] == [
        "#1A2B",
        "enviado",
    ]


def test_a_customer_has_one_key_whichever_form_the_number_takes() -> None:
    from cienty_whatsapp import keys

    assert keys.window("551187654321") == keys.window("+5511987654321")
    assert keys.pace("5511987654321") == keys.pace("+5511987654321")
    assert keys.flood("not-a-number") == "whatsapp:flood:not-a-number"
