"""`cienty whatsapp ...` commands."""

from __future__ import annotations

import asyncio

import click

from cienty_kit.logging import configure_logging
from cienty_kit.metrics import start_metrics_server
from cienty_whatsapp.settings import GatewaySettings


@click.group()
def whatsapp() -> None:
    """WhatsApp gateway: Cloud API webhooks in, Graph API messages out, and a simulator."""


@whatsapp.command()
def webhook() -> None:
    """Serve the webhook (GET handshake, POST updates) on CIENTY_HTTP_PORT."""
    from cienty_whatsapp.server import run_webhook

    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_port)
    asyncio.run(run_webhook(settings))


@whatsapp.command()
def worker() -> None:
    """Hand inbound messages to conversations and send its replies, until SIGTERM."""
    from cienty_whatsapp.server import run_worker

    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_port)
    asyncio.run(run_worker(settings))


@whatsapp.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True)
@click.option(
    "--gateway-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Where the gateway's webhook listens (the simulator posts signed updates there).",
)
@click.option(
    "--commerce-addr",
    envvar="CIENTY_COMMERCE_ADDR",
    default=None,
    help="Commerce gRPC address, to list the demo pharmacies (default: the built-in list).",
)
@click.option(
    "--phone-number-id",
    default=None,
    help="The business number's id in the webhooks (default: CIENTY_WHATSAPP_PHONE_NUMBER_ID).",
)
def simulate(
    host: str, port: int, gateway_url: str, commerce_addr: str | None, phone_number_id: str | None
) -> None:
    """A local web page to chat with the agent as a demo pharmacy, through the real gateway.

    It also stands in for the Graph API: point the gateway's CIENTY_WHATSAPP_GRAPH_URL at
    http://HOST:PORT/graph/v23.0.
    """
    from cienty_whatsapp.simulator.app import run_simulator

    settings = GatewaySettings()
    configure_logging(settings.log_level, "console")
    run_simulator(
        host=host,
        port=port,
        gateway_url=gateway_url,
        app_secret=settings.whatsapp_app_secret.get_secret_value(),
        commerce_addr=commerce_addr,
        token=settings.service_token.get_secret_value(),
        phone_number_id=phone_number_id or settings.whatsapp_phone_number_id,
    )
