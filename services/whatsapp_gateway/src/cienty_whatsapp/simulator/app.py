"""The local simulator: a web page to chat with the agent as a demo pharmacy, through the gateway.

One process serves three things:
- `/` — the chat page (`static/`: plain HTML, CSS and JavaScript, Portuguese, nothing fetched
  from the internet);
- `/api/...` — what the page calls: the pharmacies, a chat's messages, send, mark as displayed;
- `/graph/...` — the stand-in Graph API (`graph_api.py`), which the gateway sends to
  (`CIENTY_WHATSAPP_GRAPH_URL=http://<host>:<port>/graph/v23.0`).

What the person types becomes a webhook as Meta would send it (a text, or an interactive
`button_reply`/`list_reply` when a button or list row of the agent's message is tapped, or an
image whose bytes the stand-in serves), signed with the app secret and POSTed to the gateway's
`/webhook`. What the gateway sends to the stand-in shows up in the chat of its recipient, and the
simulator answers it like WhatsApp would: signed `sent` and `delivered` status callbacks at once,
`read` when the page has displayed the message. The gateway's read receipts turn the person's
own messages' ticks blue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator

from cienty_kit.logging import get_logger
from cienty_whatsapp.settings import GatewaySettings
from cienty_whatsapp.simulator import payloads
from cienty_whatsapp.simulator.customers import DemoCustomer, load_customers
from cienty_whatsapp.simulator.graph_api import (
    PAIR_RATE,
    SERVER_ERROR,
    THROUGHPUT,
    UNDELIVERABLE,
    VERSION,
    WINDOW_CLOSED,
    GraphFailure,
    GraphState,
    SentMessage,
    create_graph_api,
)

log = get_logger(__name__)

STATIC = Path(__file__).parent / "static"
# Where `cienty whatsapp simulate` listens unless told otherwise; the local cluster's values
# (charts/cienty/values-dev.yaml) point the gateway's Graph API URL at it.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
DEFAULT_PHONE_NUMBER_ID: str = GatewaySettings.model_fields["whatsapp_phone_number_id"].default
# How often sent messages are looked for to answer them with status callbacks, and the pause
# after the gateway did not take one.
STATUS_POLL_SECONDS = 0.25
STATUS_RETRY_SECONDS = 2.0
# What the page offers to make the next send fail (Meta's error bodies, see graph_api.py).
FAILURES: dict[str, tuple[GraphFailure, str]] = {
    "throughput": (THROUGHPUT, "429 limite de envio (130429)"),
    "server_error": (SERVER_ERROR, "500 erro do servidor (131000)"),
    "window_closed": (WINDOW_CLOSED, "fora da janela de 24 h (131047)"),
    "pair_rate": (PAIR_RATE, "muitas mensagens a este número (131056)"),
    "undeliverable": (UNDELIVERABLE, "número sem WhatsApp (131026)"),
}
WaId = Annotated[str, PathParam(pattern=r"^\d{8,15}$", description="the phone's digits")]


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


@dataclass
class InboundRecord:
    """A message the person sent, and what the gateway answered to its webhook."""

    id: str
    wa_id: str
    kind: str  # text, button_reply, list_reply, image
    text: str
    at: float
    http_status: int | None = None
    error: str = ""
    image: str = ""  # the media id of an image


@dataclass
class _Reported:
    """The status callbacks sent for one of the gateway's messages: status → when."""

    at: dict[str, float] = field(default_factory=dict)


class GatewayRefused(Exception):
    def __init__(self, record: InboundRecord) -> None:
        super().__init__(record.error)
        self.record = record


class Simulator:
    """The person's side of WhatsApp and Meta's side of the webhooks."""

    def __init__(
        self,
        state: GraphState,
        *,
        gateway_url: str,
        app_secret: str,
        phone_number_id: str,
        customers: list[DemoCustomer],
        gateway_transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.state = state
        self.gateway_url = gateway_url.rstrip("/")
        self.webhook_url = f"{self.gateway_url}/webhook"
        self.phone_number_id = phone_number_id
        self.customers = list(customers)
        self._app_secret = app_secret
        self._http = httpx.AsyncClient(timeout=timeout_seconds, transport=gateway_transport)
        self._inbound: dict[str, list[InboundRecord]] = defaultdict(list)
        self._reported: dict[str, _Reported] = defaultdict(_Reported)
        # Status callbacks of one message go out in order (sent, delivered, read).
        self._status_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    def customer(self, wa_id: str) -> DemoCustomer | None:
        return next((c for c in self.customers if c.wa_id == wa_id), None)

    # ------------------------------------------------------------------- webhooks to the gateway

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        """POSTs a webhook as Meta does: JSON body, signed over its exact bytes."""
        body = payloads.encode(payload)
        return await self._http.post(
            self.webhook_url,
            content=body,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": payloads.signature(self._app_secret, body),
                "user-agent": "facebookexternalua",
            },
        )

    async def send(
        self,
        wa_id: str,
        *,
        type: str,
        content: dict[str, Any],
        kind: str,
        text: str,
        context_id: str | None = None,
        image: str = "",
    ) -> InboundRecord:
        """Sends one customer message to the gateway. Raises GatewayRefused when the gateway
        does not answer 200 (the message stays in the chat, marked with the error)."""
        customer = self.customer(wa_id)
        wamid = payloads.new_wamid(wa_id)
        record = InboundRecord(
            id=wamid, wa_id=wa_id, kind=kind, text=text, at=time.time(), image=image
        )
        self._inbound[wa_id].append(record)
        payload = payloads.message(
            self.phone_number_id,
            wa_id=wa_id,
            profile_name=customer.name if customer else f"+{wa_id}",
            wamid=wamid,
            timestamp=str(int(record.at)),
            type=type,
            content=content,
            context_id=context_id,
        )
        try:
            response = await self.post(payload)
        except httpx.HTTPError as error:
            record.error = f"gateway indisponível em {self.webhook_url}: {error!r}"
            raise GatewayRefused(record) from error
        record.http_status = response.status_code
        if response.status_code != 200:
            record.error = f"o gateway respondeu {response.status_code}: {response.text[:200]}"
            raise GatewayRefused(record)
        return record

    async def send_text(self, wa_id: str, body: str) -> InboundRecord:
        return await self.send(
            wa_id, type="text", content=payloads.text(body), kind="text", text=body
        )

    async def send_reply(
        self,
        wa_id: str,
        *,
        kind: Literal["button_reply", "list_reply"],
        reply_id: str,
        title: str,
        description: str = "",
        context_id: str | None = None,
    ) -> InboundRecord:
        """A tap on a reply button or a list row of one of the gateway's messages."""
        content = (
            payloads.button_reply(reply_id, title)
            if kind == "button_reply"
            else payloads.list_reply(reply_id, title, description)
        )
        return await self.send(
            wa_id,
            type="interactive",
            content=content,
            kind=kind,
            text=title,
            context_id=context_id,
        )

    async def send_image(self, wa_id: str, caption: str = "") -> InboundRecord:
        """A small generated PNG; the stand-in serves it, so the gateway can download it."""
        media_id = payloads.new_media_id()
        colour = tuple(int(media_id[i : i + 2]) * 2 + 40 for i in (0, 2, 4))
        content = payloads.tiny_png((colour[0], colour[1], colour[2]))
        self.state.add_media(media_id, "image/png", content)
        return await self.send(
            wa_id,
            type="image",
            content=payloads.image(media_id, "image/png", content, caption),
            kind="image",
            text=caption,
            image=media_id,
        )

    # ------------------------------------------------------------------------ status callbacks

    async def _report(self, sent: SentMessage, status: str) -> bool:
        reported = self._reported[sent.wamid]
        if status in reported.at:
            return True
        payload = payloads.status_update(
            self.phone_number_id,
            wamid=sent.wamid,
            status=status,
            recipient_id=digits(str(sent.payload.get("to", ""))),
            timestamp=payloads.now(),
        )
        try:
            response = await self.post(payload)
        except httpx.HTTPError as error:
            log.warning("simulator_status_not_delivered", status=status, error=repr(error))
            return False
        if response.status_code != 200:
            log.warning("simulator_status_refused", status=status, http_status=response.status_code)
            return False
        reported.at[status] = time.time()
        return True

    async def report_statuses(self) -> bool:
        """`sent`, then `delivered`, for every message the gateway sent that has not had them.
        False when the gateway did not take one (the rest waits for the next call)."""
        async with self._status_lock:
            for sent in self.state.messages():
                for status in ("sent", "delivered"):
                    if not await self._report(sent, status):
                        return False
        return True

    async def mark_read(self, wa_id: str, wamids: list[str]) -> int:
        """`read` for those of the gateway's messages to `wa_id` that the page displayed."""
        wanted = set(wamids)
        count = 0
        async with self._status_lock:
            for sent in self.state.messages():
                if sent.wamid not in wanted or digits(str(sent.payload.get("to", ""))) != wa_id:
                    continue
                if "read" in self._reported[sent.wamid].at:
                    continue
                for status in ("sent", "delivered", "read"):
                    if not await self._report(sent, status):
                        return count
                count += 1
        return count

    # ------------------------------------------------------------------------------- the chat

    def feed(self, wa_id: str) -> list[dict[str, Any]]:
        """The chat with `wa_id`, oldest first: what the person sent (with the gateway's answer
        and whether the gateway marked it as read) and what the gateway sent to this number."""
        read = set(self.state.read_receipts)
        items: list[dict[str, Any]] = []
        for record in self._inbound.get(wa_id, []):
            items.append(
                {"direction": "in", **asdict(record), "read": record.id in read}
                | {"accepted": record.http_status == 200}
            )
        for sent in self.state.messages():
            if digits(str(sent.payload.get("to", ""))) != wa_id:
                continue
            items.append(
                {
                    "direction": "out",
                    "id": sent.wamid,
                    "at": sent.received_at,
                    "statuses": dict(self._reported[sent.wamid].at),
                    **render(sent.payload),
                }
            )
        items.sort(key=lambda item: float(item["at"]))
        return items


def render(payload: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one Graph API message payload."""
    type_ = str(payload.get("type", "text"))
    if type_ == "text":
        return {"kind": "text", "text": str(payload.get("text", {}).get("body", ""))}
    if type_ == "interactive":
        interactive = payload.get("interactive", {})
        action = interactive.get("action", {})
        shown: dict[str, Any] = {
            "text": str(interactive.get("body", {}).get("text", "")),
            "header": str(interactive.get("header", {}).get("text", "")),
            "footer": str(interactive.get("footer", {}).get("text", "")),
        }
        if interactive.get("type") == "button":
            buttons = [
                {"id": str(b["reply"]["id"]), "title": str(b["reply"]["title"])}
                for b in action.get("buttons", [])
                if isinstance(b, dict) and isinstance(b.get("reply"), dict)
            ]
            return {"kind": "buttons", "buttons": buttons, **shown}
        if interactive.get("type") == "list":
            sections = [
                {
                    "title": str(section.get("title", "")),
                    "rows": [
                        {
                            "id": str(row.get("id", "")),
                            "title": str(row.get("title", "")),
                            "description": str(row.get("description", "")),
                        }
                        for row in section.get("rows", [])
                    ],
                }
                for section in action.get("sections", [])
            ]
            return {
                "kind": "list",
                "button": str(action.get("button", "")),
                "sections": sections,
                **shown,
            }
        return {"kind": "interactive", **shown}
    if type_ == "template":
        template = payload.get("template", {})
        parameters = [
            str(parameter.get("text", ""))
            for component in template.get("components", [])
            if component.get("type") == "body"
            for parameter in component.get("parameters", [])
        ]
        return {
            "kind": "template",
            "template": {
                "name": str(template.get("name", "")),
                "language": str(template.get("language", {}).get("code", "")),
                "parameters": parameters,
            },
            "text": " · ".join(parameters),
        }
    if type_ in ("image", "document", "audio", "video", "sticker"):
        media = payload.get(type_, {})
        return {
            "kind": "media",
            "media_type": type_,
            "text": str(media.get("caption", "")),
            "link": str(media.get("link", "")),
        }
    if type_ == "reaction":
        return {"kind": "reaction", "text": str(payload.get("reaction", {}).get("emoji", ""))}
    return {"kind": "unknown", "text": f"(mensagem do tipo {type_})"}


# ---------------------------------------------------------------------------------- the page API


class Reply(BaseModel):
    type: Literal["button_reply", "list_reply"]
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=72)
    description: str = Field(default="", max_length=72)
    # The wamid of the gateway's message whose button or row was tapped.
    context: str | None = None


class ImageRequest(BaseModel):
    caption: str = Field(default="", max_length=1024)


class SendRequest(BaseModel):
    """Exactly one of: a text, a tapped button or list row, an image."""

    text: str | None = Field(default=None, min_length=1, max_length=4096)
    reply: Reply | None = None
    image: ImageRequest | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SendRequest:
        given = [part for part in (self.text, self.reply, self.image) if part is not None]
        if len(given) != 1:
            raise ValueError("send exactly one of text, reply, image")
        return self


class ReadRequest(BaseModel):
    ids: list[str] = Field(max_length=500)


class FailRequest(BaseModel):
    preset: Literal["throughput", "server_error", "window_closed", "pair_rate", "undeliverable"]


def create_simulator_app(
    state: GraphState,
    *,
    gateway_url: str,
    app_secret: str,
    phone_number_id: str,
    customers: list[DemoCustomer],
    gateway_transport: httpx.AsyncBaseTransport | None = None,
    report_statuses: bool = True,
) -> FastAPI:
    """The simulator's web app. `gateway_transport` (tests) replaces the network to the gateway;
    with `report_statuses` off, status callbacks go out only through `Simulator.report_statuses`
    and when the page displays a message."""
    simulator = Simulator(
        state,
        gateway_url=gateway_url,
        app_secret=app_secret,
        phone_number_id=phone_number_id,
        customers=customers,
        gateway_transport=gateway_transport,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_report_forever(simulator)) if report_statuses else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await simulator.aclose()

    app = FastAPI(
        title="Cienty — simulador de WhatsApp", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.simulator = simulator
    # Unnamed: the stand-in's url_for (its media URLs) then resolves through this app.
    app.mount("/graph", create_graph_api(state))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    @app.get("/api/config")
    async def config(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "gateway_url": simulator.gateway_url,
            "webhook_url": simulator.webhook_url,
            "graph_url": f"{base}/graph/{VERSION}",
            "phone_number_id": simulator.phone_number_id,
            "display_phone_number": payloads.DISPLAY_PHONE_NUMBER,
            "customers": [asdict(c) | {"wa_id": c.wa_id} for c in simulator.customers],
            "failures": [{"preset": name, "label": label} for name, (_, label) in FAILURES.items()],
        }

    @app.get("/api/chats/{wa_id}")
    async def chat(wa_id: WaId) -> dict[str, Any]:
        return {
            "wa_id": wa_id,
            "pending_failures": len(state.failures),
            "messages": simulator.feed(wa_id),
        }

    @app.post("/api/chats/{wa_id}/messages")
    async def send(wa_id: WaId, request: SendRequest) -> dict[str, Any]:
        try:
            if request.text is not None:
                record = await simulator.send_text(wa_id, request.text)
            elif request.reply is not None:
                reply = request.reply
                record = await simulator.send_reply(
                    wa_id,
                    kind=reply.type,
                    reply_id=reply.id,
                    title=reply.title,
                    description=reply.description,
                    context_id=reply.context,
                )
            else:
                caption = request.image.caption if request.image is not None else ""
                record = await simulator.send_image(wa_id, caption)
        except GatewayRefused as refused:
            raise HTTPException(502, detail=refused.record.error) from None
        return asdict(record)

    @app.post("/api/chats/{wa_id}/read")
    async def displayed(wa_id: WaId, request: ReadRequest) -> dict[str, int]:
        return {"read": await simulator.mark_read(wa_id, request.ids)}

    @app.post("/api/failures", status_code=204)
    async def fail_next(request: FailRequest) -> Response:
        state.fail_next(FAILURES[request.preset][0])
        return Response(status_code=204)

    return app


async def _report_forever(simulator: Simulator) -> None:
    while True:
        try:
            delivered = await simulator.report_statuses()
        except Exception as error:  # never let the loop die: the page would lose its ticks
            log.warning("simulator_status_loop_failed", error=repr(error))
            delivered = False
        await asyncio.sleep(STATUS_POLL_SECONDS if delivered else STATUS_RETRY_SECONDS)


def run_simulator(
    *,
    host: str,
    port: int,
    gateway_url: str,
    app_secret: str,
    commerce_addr: str | None,
    token: str,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
) -> None:
    """Serves the simulator until interrupted (blocks). `phone_number_id` must be the gateway's
    `CIENTY_WHATSAPP_PHONE_NUMBER_ID`; the gateway's `CIENTY_WHATSAPP_GRAPH_URL` must be
    `http://<host>:<port>/graph/v23.0`."""

    async def serve() -> None:
        customers = await load_customers(commerce_addr, token)
        app = create_simulator_app(
            GraphState(),
            gateway_url=gateway_url,
            app_secret=app_secret,
            phone_number_id=phone_number_id,
            customers=customers,
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        )
        log.info(
            "simulator_starting",
            url=f"http://{host}:{port}/",
            graph_url=f"http://{host}:{port}/graph/{VERSION}",
            webhook_url=f"{gateway_url.rstrip('/')}/webhook",
            customers=len(customers),
        )
        await server.serve()

    asyncio.run(serve())
