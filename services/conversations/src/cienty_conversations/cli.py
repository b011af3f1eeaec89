"""`cienty conversations ...` commands."""

from __future__ import annotations

import asyncio

import click

from cienty_conversations.settings import ConversationsSettings
from cienty_kit.logging import configure_logging
from cienty_kit.metrics import start_metrics_server


@click.group()
def conversations() -> None:
    """Conversations service: the customer-service agent and the staff inbox."""


@conversations.command()
def migrate() -> None:
    """Upgrade the database schema to the newest migration (safe to run concurrently)."""
    from cienty_conversations.migrations.runner import upgrade

    settings = ConversationsSettings()
    configure_logging(settings.log_level, settings.log_format)
    upgrade(settings.database_url)
    click.echo("conversations database is at the newest migration")


@conversations.command()
def serve() -> None:
    """Serve the conversations gRPC API until SIGTERM (then drain in-flight calls)."""
    from cienty_conversations.server import serve as run_server

    settings = ConversationsSettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_port)
    asyncio.run(run_server(settings))
