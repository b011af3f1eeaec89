"""The simulator's page in a real browser (headless Chromium driven by Playwright): a person picks
a pharmacy, types, taps the agent's reply button and list row, sends an image; the stub gateway
answers through the simulator's Graph API like the outbound sender does.

Runs where Playwright (PyPI) and Debian's chromium are installed (/usr/bin/chromium, or
CIENTY_CHROMIUM); skipped, saying so, otherwise.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cienty_whatsapp import graph
from cienty_whatsapp.graph import GraphClient
from cienty_whatsapp.simulator.app import create_simulator_app
from cienty_whatsapp.simulator.customers import DEMO_CUSTOMERS
from cienty_whatsapp.simulator.graph_api import VERSION, GraphState
from tests.whatsapp.test_simulator import APP_SECRET, PHONE_NUMBER_ID, StubGateway, serve

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)
CHROMIUM = os.environ.get("CIENTY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

FARMAVIDA = DEMO_CUSTOMERS[1]


class Agent:
    """Plays the gateway's outbound side: answers each customer message through the Graph API."""

    def __init__(self) -> None:
        self.graph_url = ""

    async def answer(self, message: dict[str, Any]) -> None:
        client = GraphClient(self.graph_url, PHONE_NUMBER_ID, "token")
        to = f"+{message['from']}"
        await client.mark_read(message["id"])
        if message["type"] == "text":
            await client.send(graph.text_message(to, "Temos *dipirona 500 mg*."))
            await client.send(graph.buttons_message(to, "Fazer o pedido?", [("sim", "Sim")]))
            await client.send(
                graph.list_message(to, "Quantas caixas?", "Quantidades", [("q20", "20 caixas")])
            )
        elif message["type"] == "interactive":
            interactive = message["interactive"]
            reply = interactive.get("button_reply") or interactive.get("list_reply")
            await client.send(graph.text_message(to, f"Você escolheu: {reply['title']}"))
        await client.aclose()


@pytest.fixture
def loop_urls() -> Iterator[tuple[str, StubGateway]]:
    agent = Agent()
    gateway = StubGateway(on_message=agent.answer)
    with serve(gateway.app()) as gateway_url:
        app = create_simulator_app(
            GraphState(),
            gateway_url=gateway_url,
            app_secret=APP_SECRET,
            phone_number_id=PHONE_NUMBER_ID,
            customers=list(DEMO_CUSTOMERS),
        )
        with serve(app) as simulator_url:
            agent.graph_url = f"{simulator_url}/graph/{VERSION}"
            yield simulator_url, gateway


def test_a_person_chats_with_the_agent_in_the_browser(
    loop_urls: tuple[str, StubGateway],
) -> None:
    simulator_url, gateway = loop_urls
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(simulator_url)
        # The fixed list, searchable.
        page.fill("#filter", "campinas")
        page.get_by_role("button", name=FARMAVIDA.name).click()
        page.fill("#text", "Oi, vocês têm dipirona?")
        page.click("#send")
        # The agent's answer, with WhatsApp's bold, its reply button and its list.
        page.locator("strong", has_text="dipirona 500 mg").wait_for()
        page.get_by_role("button", name="Sim").click()
        page.get_by_text("Você escolheu: Sim").wait_for()
        page.get_by_role("button", name="☰ Quantidades").click()
        page.get_by_role("button", name="20 caixas").click()
        page.get_by_text("Você escolheu: 20 caixas").wait_for()
        page.click("#send-image")
        page.locator("img.image-thumb").wait_for()
        # The gateway read the person's messages: blue ticks.
        page.locator(".ticks.read").first.wait_for()
        browser.close()
    assert errors == []
    kinds = [
        m["interactive"]["type"] if m["type"] == "interactive" else m["type"]
        for m in gateway.messages()
    ]
    assert kinds == ["text", "button_reply", "list_reply", "image"]
    assert {m["from"] for m in gateway.messages()} == {FARMAVIDA.wa_id}
    # Every message the page displayed was reported read.
    deadline = time.monotonic() + 10
    while len([s for s in gateway.statuses() if s["status"] == "read"]) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    statuses = gateway.statuses()
    assert {s["status"] for s in statuses} == {"sent", "delivered", "read"}
    assert len([s for s in statuses if s["status"] == "read"]) == 5
