"""`cienty commerce ...` commands."""

from __future__ import annotations

import asyncio

import click

from cienty_commerce.settings import CommerceSettings
from cienty_kit.logging import configure_logging
from cienty_kit.metrics import start_metrics_server


@click.group()
def commerce() -> None:
    """Commerce service: customers, catalog, orders."""


@commerce.command()
def migrate() -> None:
    """Upgrade the database schema to the newest migration (safe to run concurrently)."""
    from cienty_commerce.migrations.runner import upgrade

    settings = CommerceSettings()
    configure_logging(settings.log_level, settings.log_format)
    upgrade(settings.database_url)
    click.echo("commerce database is at the newest migration")


@commerce.command()
def serve() -> None:
    """Serve the commerce gRPC API until SIGTERM (then drain in-flight calls)."""
    from cienty_commerce.server import serve as run_server

    settings = CommerceSettings()
    configure_logging(settings.log_level, settings.log_format)
    start_metrics_server(settings.metrics_port)
    asyncio.run(run_server(settings))
