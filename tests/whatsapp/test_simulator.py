"""The local simulator against a stub gateway: the webhooks it sends (Meta's shapes, signed with
the app secret), what it shows of the gateway's sends to the stand-in Graph API, the status
callbacks it answers them with, and the pharmacies it offers.

The stub gateway is a small FastAPI app that records every POST to /webhook and, like the real
one, refuses a body whose X-Hub-Signature-256 does not verify. Most tests wire the two apps with
httpx's ASGI transport; the end-to-end ones run both under uvicorn on real sockets, and the
gateway's side of the Graph API is the gateway's own GraphClient.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from cienty_whatsapp import graph
from cienty_whatsapp.graph import GraphClient, GraphError
from cienty_whatsapp.simulator import payloads
from cienty_whatsapp.simulator.app import STATIC, Simulator, create_simulator_app, render
from cienty_whatsapp.simulator.customers import DEMO_CUSTOMERS, DemoCustomer
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState

APP_SECRET = "test-app-secret-of-the-meta-app"
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "test-access-token"
CUSTOMERS = list(DEMO_CUSTOMERS[:3])
ANA, BETO, CAIO = (c.wa_id for c in CUSTOMERS)


# ------------------------------------------------------------------------------- the stub gateway


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def value(self) -> Any:
        [entry] = self.payload["entry"]
        [change] = entry["changes"]
        assert change["field"] == "messages"
        return change["value"]


@dataclass
class StubGateway:
    """Records the webhooks it accepts; answers `status_code` (200 unless a test changes it)."""

    app_secret: str = APP_SECRET
    status_code: int = 200
    # Called (as a task, after the 200) with each customer message accepted.
    on_message: Callable[[dict[str, Any]], Coroutine[Any, Any, None]] | None = None
    received: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhook")
        async def webhook(request: Request) -> Response:
            body = await request.body()
            got = Received(dict(request.headers), body)
            expected = "sha256=" + hmac.new(self.app_secret.encode(), body, "sha256").hexdigest()
            header = request.headers.get("x-hub-signature-256", "")
            with self._lock:
                if not hmac.compare_digest(expected, header):
                    self.refused.append(got)
                    return Response(status_code=401)
                if self.status_code != 200:
                    self.refused.append(got)
                    return Response("indisponível", status_code=self.status_code)
                self.received.append(got)
            if self.on_message is not None:
                for message in got.value.get("messages", []):
                    task = asyncio.get_running_loop().create_task(self.on_message(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            return Response(status_code=200)

        return app

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m for r in self.received for m in r.value.get("messages", [])]

    def statuses(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s for r in self.received for s in r.value.get("statuses", [])]


@dataclass
class Harness:
    gateway: StubGateway
    state: GraphState
    app: FastAPI
    page: httpx.AsyncClient  # the browser's calls
    graph: GraphClient  # the gateway's outbound sender

    @property
    def simulator(self) -> Simulator:
        simulator: Simulator = self.app.state.simulator
        return simulator

    async def say(self, wa_id: str, **body: Any) -> dict[str, Any]:
        response = await self.page.post(f"/api/chats/{wa_id}/messages", json=body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def feed(self, wa_id: str) -> list[dict[str, Any]]:
        response = await self.page.get(f"/api/chats/{wa_id}")
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    gateway = StubGateway()
    state = GraphState(access_token=ACCESS_TOKEN)
    app = create_simulator_app(
        state,
        gateway_url="http://gateway.test/",
        app_secret=APP_SECRET,
        phone_number_id=PHONE_NUMBER_ID,
        customers=CUSTOMERS,
        gateway_transport=httpx.ASGITransport(app=gateway.app()),
        report_statuses=False,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator.test") as page:
        client = GraphClient(
            f"http://simulator.test/graph/{VERSION}",
            PHONE_NUMBER_ID,
            ACCESS_TOKEN,
            transport=transport,
        )
        yield Harness(gateway, state, app, page, client)
        await client.aclose()
    await app.state.simulator.aclose()


def verifies(received: Received, secret: str = APP_SECRET) -> bool:
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["x-hub-signature-256"], f"sha256={expected}")


def assert_envelope(received: Received) -> None:
    payload = received.payload
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    assert re.fullmatch(r"\d+", entry["id"])
    value = received.value
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    assert re.fullmatch(r"\d+", value["metadata"]["display_phone_number"])
    assert received.headers["content-type"] == "application/json"


def assert_customer_message(received: Received, wa_id: str, name: str) -> dict[str, Any]:
    assert_envelope(received)
    value = received.value
    assert value["contacts"] == [{"profile": {"name": name}, "wa_id": wa_id}]
    [message] = value["messages"]
    assert message["from"] == wa_id
    assert message["id"].startswith("wamid.")
    # Meta's wamids are base64 of a record that carries the chat's number.
    assert wa_id.encode() in base64.b64decode(message["id"].removeprefix("wamid."))
    assert re.fullmatch(r"\d{10}", message["timestamp"])
    assert abs(int(message["timestamp"]) - time.time()) < 60
    assert message["type"] in message
    result: dict[str, Any] = message
    return result


# ------------------------------------------------------------------------------------ sending


async def test_a_text_is_a_signed_meta_text_message(harness: Harness) -> None:
    sent = await harness.say(ANA, text="Oi, vocês têm dipirona 500 mg?")
    [received] = harness.gateway.received
    message = assert_customer_message(received, ANA, CUSTOMERS[0].name)
    assert message["type"] == "text"
    assert message["text"] == {"body": "Oi, vocês têm dipirona 500 mg?"}
    assert "context" not in message
    assert message["id"] == sent["id"]
    # The signature is the HMAC-SHA256 of the exact bytes sent, with the app secret as key.
    assert verifies(received)
    assert not verifies(received, "another-secret")
    tampered = Received(received.headers, received.body.replace(b"dipirona", b"dipirono"))
    assert not verifies(tampered)
    # Non-ASCII text travels as UTF-8 JSON, as Meta sends it.
    assert "têm".encode() in received.body


async def test_every_message_has_its_own_wamid(harness: Harness) -> None:
    for text in ("um", "dois", "três"):
        await harness.say(BETO, text=text)
    ids = [m["id"] for m in harness.gateway.messages()]
    assert len(set(ids)) == 3


async def test_a_tapped_reply_button_is_a_button_reply_to_that_message(harness: Harness) -> None:
    wamid = await harness.graph.send(
        graph.buttons_message(f"+{ANA}", "Confirma o pedido?", [("confirm:1", "Confirmar")])
    )
    [shown] = await harness.feed(ANA)
    assert shown["kind"] == "buttons"
    [button] = shown["buttons"]
    await harness.say(ANA, reply={"type": "button_reply", **button, "context": shown["id"]})
    [received] = harness.gateway.received
    message = assert_customer_message(received, ANA, CUSTOMERS[0].name)
    assert message["type"] == "interactive"
    assert message["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "confirm:1", "title": "Confirmar"},
    }
    assert message["context"] == {"from": received.value["metadata"]["display_phone_number"]} | {
        "id": wamid
    }
    assert verifies(received)
    # The person's side shows which button was tapped.
    tapped = (await harness.feed(ANA))[-1]
    assert (tapped["direction"], tapped["kind"], tapped["text"]) == (
        "in",
        "button_reply",
        "Confirmar",
    )


async def test_a_chosen_list_row_is_a_list_reply(harness: Harness) -> None:
    payload = graph.list_message(
        f"+{BETO}", "Qual produto?", "Ver produtos", [("sku:1", "Dipirona 500 mg")]
    )
    payload["interactive"]["action"]["sections"][0]["rows"][0]["description"] = "caixa com 10"
    wamid = await harness.graph.send(payload)
    [shown] = await harness.feed(BETO)
    assert shown["kind"] == "list"
    assert shown["button"] == "Ver produtos"
    [row] = shown["sections"][0]["rows"]
    assert row == {"id": "sku:1", "title": "Dipirona 500 mg", "description": "caixa com 10"}
    await harness.say(BETO, reply={"type": "list_reply", **row, "context": wamid})
    message = assert_customer_message(harness.gateway.received[0], BETO, CUSTOMERS[1].name)
    assert message["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": "sku:1", "title": "Dipirona 500 mg", "description": "caixa com 10"},
    }
    assert message["context"]["id"] == wamid


async def test_an_image_can_be_downloaded_by_the_gateway(harness: Harness) -> None:
    await harness.say(CAIO, image={"caption": "nota fiscal"})
    message = assert_customer_message(harness.gateway.received[0], CAIO, CUSTOMERS[2].name)
    assert message["type"] == "image"
    image = message["image"]
    assert image["mime_type"] == "image/png"
    assert image["caption"] == "nota fiscal"
    # The worker's way: the media id → a URL → the bytes, with the access token.
    info = await harness.graph.media_info(image["id"])
    content = await harness.graph.download(info.url, max_bytes=1_000_000)
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert info.mime_type == "image/png"
    assert info.file_size == len(content)
    assert base64.b64decode(image["sha256"]) == hashlib.sha256(content).digest()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"text": "oi", "image": {}}, id="two-things"),
        pytest.param({"text": ""}, id="empty-text"),
        pytest.param({"reply": {"type": "cta_url", "id": "x", "title": "x"}}, id="reply-type"),
    ],
)
async def test_the_page_api_refuses_malformed_sends(harness: Harness, body: dict[str, Any]) -> None:
    response = await harness.page.post(f"/api/chats/{ANA}/messages", json=body)
    assert response.status_code == 422
    assert harness.gateway.received == []
    response = await harness.page.post("/api/chats/not-a-phone/messages", json={"text": "oi"})
    assert response.status_code == 422


@pytest.mark.parametrize("status", [401, 500, 503])
async def test_a_refused_webhook_is_shown_with_the_gateway_s_answer(
    harness: Harness, status: int
) -> None:
    harness.gateway.status_code = status
    response = await harness.page.post(f"/api/chats/{ANA}/messages", json={"text": "oi"})
    assert response.status_code == 502
    assert str(status) in response.json()["detail"]
    [shown] = await harness.feed(ANA)
    assert shown["accepted"] is False
    assert shown["http_status"] == status
    assert str(status) in shown["error"]


async def test_a_webhook_signed_with_another_secret_is_refused() -> None:
    """The stub verifies like the gateway: a simulator with the wrong secret gets 401 back."""
    gateway = StubGateway()
    app = create_simulator_app(
        GraphState(),
        gateway_url="http://gateway.test",
        app_secret="not-the-app-secret",
        phone_number_id=PHONE_NUMBER_ID,
        customers=CUSTOMERS,
        gateway_transport=httpx.ASGITransport(app=gateway.app()),
        report_statuses=False,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://simulator.test"
    ) as page:
        response = await page.post(f"/api/chats/{ANA}/messages", json={"text": "oi"})
    await app.state.simulator.aclose()
    assert response.status_code == 502
    assert "401" in response.json()["detail"]
    assert gateway.received == []
    assert len(gateway.refused) == 1


async def test_an_unreachable_gateway_is_reported() -> None:
    app = create_simulator_app(
        GraphState(),
        gateway_url=f"http://127.0.0.1:{free_port()}",
        app_secret=APP_SECRET,
        phone_number_id=PHONE_NUMBER_ID,
        customers=CUSTOMERS,
        report_statuses=False,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://simulator.test"
    ) as page:
        response = await page.post(f"/api/chats/{ANA}/messages", json={"text": "oi"})
        assert response.status_code == 502
        assert "gateway indisponível" in response.json()["detail"]
        # Status callbacks wait for the gateway instead of being lost.
        client = GraphClient(
            f"http://simulator.test/graph/{VERSION}",
            PHONE_NUMBER_ID,
            ACCESS_TOKEN,
            transport=httpx.ASGITransport(app=app),
        )
        await client.send(graph.text_message(f"+{ANA}", "Olá"))
        await client.aclose()
        assert await app.state.simulator.report_statuses() is False
        [out] = [
            m
            for m in (await page.get(f"/api/chats/{ANA}")).json()["messages"]
            if m["direction"] == "out"
        ]
        assert out["statuses"] == {}
    await app.state.simulator.aclose()


# ------------------------------------------------------------------------------------ receiving


async def test_the_gateway_s_sends_show_in_the_recipient_s_chat_only(harness: Harness) -> None:
    await harness.say(ANA, text="Oi")
    await harness.graph.send(graph.text_message(f"+{ANA}", "Olá! Como posso ajudar?"))
    await harness.graph.send(graph.text_message(BETO, "Seu pedido saiu para entrega."))
    await harness.graph.send(
        graph.buttons_message(f"+{ANA}", "Confirma?", [("sim", "Sim"), ("nao", "Não")])
    )
    await harness.graph.send(
        graph.template_message(f"+{ANA}", "atualizacao_pedido", "pt_BR", ["123", "enviado"])
    )
    ana = await harness.feed(ANA)
    assert [(m["direction"], m["kind"]) for m in ana] == [
        ("in", "text"),
        ("out", "text"),
        ("out", "buttons"),
        ("out", "template"),
    ]
    assert ana[1]["text"] == "Olá! Como posso ajudar?"
    assert [b["title"] for b in ana[2]["buttons"]] == ["Sim", "Não"]
    assert ana[3]["template"] == {
        "name": "atualizacao_pedido",
        "language": "pt_BR",
        "parameters": ["123", "enviado"],
    }
    assert [m["id"] for m in ana[1:]] == [
        s.wamid for s in harness.state.messages() if s.payload["to"] == f"+{ANA}"
    ]
    # A recipient written without "+" is the same chat.
    beto = await harness.feed(BETO)
    assert [m["text"] for m in beto] == ["Seu pedido saiu para entrega."]
    assert await harness.feed(CAIO) == []
    assert all(m["at"] <= n["at"] for m, n in itertools.pairwise(ana))


async def test_the_gateway_s_read_receipt_marks_that_message_read(harness: Harness) -> None:
    first = await harness.say(ANA, text="Oi")
    await harness.say(ANA, text="Tem dipirona?")
    await harness.graph.mark_read(first["id"])
    assert [m["read"] for m in await harness.feed(ANA)] == [True, False]
    assert harness.state.messages() == []  # a read receipt is not a message


def test_render_covers_every_kind_the_gateway_sends() -> None:
    media = {"type": "document", "document": {"link": "https://x/y.pdf", "caption": "boleto"}}
    assert render(media) == {
        "kind": "media",
        "media_type": "document",
        "text": "boleto",
        "link": "https://x/y.pdf",
    }
    assert render({"type": "reaction", "reaction": {"emoji": "👍"}})["text"] == "👍"
    assert render({"type": "location"})["kind"] == "unknown"
    with_header = graph.buttons_message("+1", "Corpo", [("a", "A")])
    with_header["interactive"] |= {"header": {"type": "text", "text": "Topo"}}
    with_header["interactive"] |= {"footer": {"text": "Rodapé"}}
    shown = render(with_header)
    assert (shown["header"], shown["text"], shown["footer"]) == ("Topo", "Corpo", "Rodapé")


async def test_a_failure_preset_fails_the_gateway_s_next_send(harness: Harness) -> None:
    response = await harness.page.post("/api/failures", json={"preset": "window_closed"})
    assert response.status_code == 204
    assert (await harness.page.get(f"/api/chats/{ANA}")).json()["pending_failures"] == 1
    with pytest.raises(GraphError) as raised:
        await harness.graph.send(graph.text_message(f"+{ANA}", "Olá"))
    assert raised.value.kind == "window_closed"
    await harness.graph.send(graph.text_message(f"+{ANA}", "Olá"))
    assert len(harness.state.messages()) == 1
    bad = await harness.page.post("/api/failures", json={"preset": "meteor"})
    assert bad.status_code == 422


# ------------------------------------------------------------------------------- status callbacks


async def test_each_send_is_answered_with_sent_then_delivered_once(harness: Harness) -> None:
    first = await harness.graph.send(graph.text_message(f"+{ANA}", "Olá"))
    second = await harness.graph.send(graph.text_message(BETO, "Oi"))
    assert await harness.simulator.report_statuses() is True
    assert await harness.simulator.report_statuses() is True  # nothing new: nothing sent
    statuses = harness.gateway.statuses()
    assert [(s["id"], s["status"]) for s in statuses] == [
        (first, "sent"),
        (first, "delivered"),
        (second, "sent"),
        (second, "delivered"),
    ]
    assert [s["recipient_id"] for s in statuses] == [ANA, ANA, BETO, BETO]
    for received in harness.gateway.received:
        assert verifies(received)
        assert_envelope(received)
        assert "contacts" not in received.value
        [status] = received.value["statuses"]
        assert re.fullmatch(r"\d{10}", status["timestamp"])
        assert status["pricing"]["category"] == "service"
    [shown] = await harness.feed(ANA)
    assert set(shown["statuses"]) == {"sent", "delivered"}


async def test_read_is_sent_when_the_page_displayed_the_message(harness: Harness) -> None:
    to_ana = await harness.graph.send(graph.text_message(f"+{ANA}", "Olá"))
    to_beto = await harness.graph.send(graph.text_message(f"+{BETO}", "Olá"))
    # The page of Ana's chat reports what it displayed; Beto's message is not Ana's to read.
    response = await harness.page.post(f"/api/chats/{ANA}/read", json={"ids": [to_ana, to_beto]})
    assert response.json() == {"read": 1}
    again = await harness.page.post(f"/api/chats/{ANA}/read", json={"ids": [to_ana]})
    assert again.json() == {"read": 0}
    assert [(s["id"], s["status"]) for s in harness.gateway.statuses()] == [
        (to_ana, "sent"),
        (to_ana, "delivered"),
        (to_ana, "read"),
    ]
    read = harness.gateway.statuses()[-1]
    assert "pricing" not in read
    [shown] = await harness.feed(ANA)
    assert set(shown["statuses"]) == {"sent", "delivered", "read"}
    await harness.simulator.report_statuses()
    assert [s["status"] for s in harness.gateway.statuses() if s["id"] == to_beto] == [
        "sent",
        "delivered",
    ]


async def test_statuses_the_gateway_refused_are_sent_again(harness: Harness) -> None:
    wamid = await harness.graph.send(graph.text_message(f"+{ANA}", "Olá"))
    harness.gateway.status_code = 503
    assert await harness.simulator.report_statuses() is False
    harness.gateway.status_code = 200
    assert await harness.simulator.report_statuses() is True
    assert [(s["id"], s["status"]) for s in harness.gateway.statuses()] == [
        (wamid, "sent"),
        (wamid, "delivered"),
    ]


# ------------------------------------------------------------------------- over real sockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Runs `app` under uvicorn in a thread, on a socket of its own; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_whole_loop_over_http() -> None:
    """A person's message reaches the gateway signed; the gateway's reply, sent to the
    simulator's Graph API as the outbound sender sends it, shows in the chat; the simulator
    answers it with sent and delivered on its own, and read once the page displayed it."""
    gateway = StubGateway()
    state = GraphState(access_token=ACCESS_TOKEN)
    with serve(gateway.app()) as gateway_url:
        app = create_simulator_app(
            state,
            gateway_url=gateway_url,
            app_secret=APP_SECRET,
            phone_number_id=PHONE_NUMBER_ID,
            customers=CUSTOMERS,
        )
        with serve(app) as simulator_url:
            async with httpx.AsyncClient(base_url=simulator_url) as page:
                config = (await page.get("/api/config")).json()
                assert config["graph_url"] == f"{simulator_url}/graph/{VERSION}"
                assert config["webhook_url"] == f"{gateway_url}/webhook"
                assert config["phone_number_id"] == PHONE_NUMBER_ID
                assert [c["wa_id"] for c in config["customers"]] == [ANA, BETO, CAIO]

                sent = await page.post(f"/api/chats/{ANA}/messages", json={"text": "Oi"})
                assert sent.status_code == 200
                [inbound] = gateway.messages()
                assert inbound["text"] == {"body": "Oi"}
                assert gateway.refused == []  # the signature verified

                client = GraphClient(config["graph_url"], PHONE_NUMBER_ID, ACCESS_TOKEN)
                await client.mark_read(inbound["id"])
                wamid = await client.send(
                    graph.buttons_message(f"+{ANA}", "Posso ajudar?", [("menu", "Ver menu")])
                )
                await client.aclose()

                await wait_for(lambda: len(gateway.statuses()) == 2)
                assert [(s["id"], s["status"]) for s in gateway.statuses()] == [
                    (wamid, "sent"),
                    (wamid, "delivered"),
                ]
                feed = (await page.get(f"/api/chats/{ANA}")).json()["messages"]
                assert [m["direction"] for m in feed] == ["in", "out"]
                assert feed[0]["read"] is True
                assert feed[1]["buttons"] == [{"id": "menu", "title": "Ver menu"}]

                read = await page.post(f"/api/chats/{ANA}/read", json={"ids": [wamid]})
                assert read.json() == {"read": 1}
                assert gateway.statuses()[-1]["status"] == "read"

                tap = {"type": "button_reply", "id": "menu", "title": "Ver menu", "context": wamid}
                assert (
                    await page.post(f"/api/chats/{ANA}/messages", json={"reply": tap})
                ).status_code == 200
                assert gateway.messages()[-1]["interactive"]["button_reply"]["id"] == "menu"


async def test_the_page_is_served_and_needs_nothing_from_the_internet() -> None:
    app = create_simulator_app(
        GraphState(),
        gateway_url="http://gateway.test",
        app_secret=APP_SECRET,
        phone_number_id=PHONE_NUMBER_ID,
        customers=CUSTOMERS,
        report_statuses=False,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://simulator.test"
    ) as page:
        index = await page.get("/")
        assert index.status_code == 200
        assert 'lang="pt-BR"' in index.text
        assets = set(re.findall(r'(?:src|href)="([^"]+)"', index.text)) - {"data:,"}
        assert set(assets) == {"/static/style.css", "/static/app.js"}
        for asset in assets:
            assert (await page.get(asset)).status_code == 200
    await app.state.simulator.aclose()
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), path.name  # no CDN, works offline
    # Everything the page calls exists.
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    called = set(re.findall(r"api\(`?\"?(/api/[a-z/]+)", script))
    routes = {getattr(route, "path", "") for route in app.routes}
    assert called == {"/api/config", "/api/chats/", "/api/failures"}
    assert {"/api/config", "/api/chats/{wa_id}", "/api/chats/{wa_id}/messages"} <= routes
    assert {"/api/chats/{wa_id}/read", "/api/failures"} <= routes


def test_static_files_ship_in_the_package() -> None:
    project = Path(__file__).resolve().parents[2] / "services" / "whatsapp_gateway"
    assert 'cienty_whatsapp = ["py.typed", "simulator/static/*"]' in (
        project / "pyproject.toml"
    ).read_text(encoding="utf-8")
    assert {p.name for p in STATIC.iterdir()} == {"index.html", "app.js", "style.css"}


def test_run_simulator_serves_until_stopped(tmp_path: Path) -> None:
    """The blocking entry point the CLI calls, in a process of its own."""
    port = free_port()
    code = (
        "from cienty_whatsapp.simulator.app import run_simulator\n"
        f"run_simulator(host='127.0.0.1', port={port}, gateway_url='http://127.0.0.1:9',"
        f" app_secret='s', commerce_addr=None, token='t', phone_number_id='{PHONE_NUMBER_ID}')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=1).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert config["phone_number_id"] == PHONE_NUMBER_ID
        assert len(config["customers"]) == len(DEMO_CUSTOMERS)
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stdout:
            process.stdout.close()
    # uvicorn shuts down gracefully, then ends by the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM)


# ------------------------------------------------------------------------------- the pharmacies


def test_the_fixed_list_is_commerce_s_demo_customers() -> None:
    from cienty_commerce.demo_data import DEMO_CUSTOMERS as COMMERCE_DEMO

    assert [DemoCustomer(c.trade_name, c.phone, c.city, c.state) for c in COMMERCE_DEMO] == list(
        DEMO_CUSTOMERS
    )
    assert all(c.wa_id == c.phone.removeprefix("+") for c in DEMO_CUSTOMERS)
    assert payloads.tiny_png((1, 2, 3)).startswith(b"\x89PNG")
