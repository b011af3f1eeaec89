"""`cienty dev ...` and `cienty demo ...`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from cienty_commerce.demo import seed_demo
from cienty_commerce.migrations.runner import upgrade
from cienty_commerce.repository.product_cache import ProductCache
from cienty_commerce.service.catalog import CatalogService
from cienty_commerce.service.customers import CustomerService
from cienty_commerce.settings import CommerceSettings
from cienty_conversations.migrations.runner import upgrade as upgrade_conversations
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis
from cienty_kit.database import Database, create_engine
from cienty_kit.redis import create_redis
from cienty_llm.factory import describe
from cienty_llm.settings import LLMSettings

# The sample knowledge base, relative to the repository root where `make run` starts.
SAMPLE_KNOWLEDGE = Path("knowledge/samples/distribuidora")


@click.group()
def demo() -> None:
    """Demo data."""


async def _seed(settings: CommerceSettings) -> str:
    database = Database(create_engine(settings.database_url, pool_size=2))
    redis = create_redis(settings.redis_url)
    try:
        cache = ProductCache(redis, ttl_seconds=settings.product_cache_ttl_seconds)
        report = await seed_demo(CustomerService(database), CatalogService(database, cache))
    finally:
        await redis.aclose()
        await database.dispose()
    return (
        f"demo data: {report.customers} customers, {report.products_created} products created, "
        f"{report.products_existing} already there"
    )


@demo.command()
def seed() -> None:
    """Load demo pharmacies (valid CNPJs) and a pharmacy catalog; safe to repeat."""
    click.echo(asyncio.run(_seed(CommerceSettings())))


@click.group()
def dev() -> None:
    """Local development."""


@dev.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("CIENTY_DEV_DATA_DIR", ".cienty/dev"),
    show_default=".cienty/dev (CIENTY_DEV_DATA_DIR)",
    help="Where the embedded PostgreSQL and Redis keep their data between runs.",
)
@click.option("--commerce-port", default=50051, show_default=True)
@click.option("--commerce-metrics-port", default=9101, show_default=True)
@click.option("--conversations-port", default=50052, show_default=True)
@click.option("--conversations-metrics-port", default=9102, show_default=True)
@click.option("--whatsapp-port", default=8080, show_default=True, help="the gateway's webhook")
@click.option("--simulator-port", default=8090, show_default=True, help="the WhatsApp simulator")
@click.option("--redis-port", default=6380, show_default=True)
@click.option(
    "--knowledge",
    "knowledge_dir",
    type=click.Path(path_type=Path),
    default=SAMPLE_KNOWLEDGE,
    show_default=True,
    help="Documents ingested into the local knowledge base (pgvector) in the background; "
    "a path that does not exist skips it.",
)
def up(
    data_dir: Path,
    commerce_port: int,
    commerce_metrics_port: int,
    conversations_port: int,
    conversations_metrics_port: int,
    whatsapp_port: int,
    simulator_port: int,
    redis_port: int,
    knowledge_dir: Path,
) -> None:
    """Start embedded PostgreSQL and Redis, migrate, seed, and run every service.

    The sample knowledge base is ingested in the background (a re-run changes nothing).
    Ctrl-C (or SIGTERM) stops the services (draining in-flight calls), then the databases.
    """
    data_dir = data_dir.resolve()
    click.echo(f"data directory: {data_dir}")
    postgres = EmbeddedPostgres(data_dir / "postgres")
    redis = EmbeddedRedis(data_dir / "redis", port=redis_port)
    services: list[subprocess.Popen[bytes]] = []
    jobs: list[subprocess.Popen[bytes]] = []
    try:
        database_url = postgres.database_url("cienty")
        conversations_url = postgres.database_url("cienty_conversations")
        knowledge_url = postgres.database_url("cienty_knowledge")
        redis.start()
        env = {
            **os.environ,
            "CIENTY_ENVIRONMENT": "development",
            "CIENTY_DATABASE_URL": database_url,
            "CIENTY_REDIS_URL": redis.url,
            "CIENTY_LOG_FORMAT": os.environ.get("CIENTY_LOG_FORMAT", "console"),
        }
        settings = CommerceSettings(database_url=database_url, redis_url=redis.url)
        upgrade(database_url)
        upgrade_conversations(conversations_url)
        click.echo("migrated: commerce, conversations")
        click.echo(asyncio.run(_seed(settings)))
        services.append(
            subprocess.Popen(
                [sys.executable, "-m", "cienty_kit", "commerce", "serve"],
                env={
                    **env,
                    "CIENTY_GRPC_PORT": str(commerce_port),
                    "CIENTY_METRICS_PORT": str(commerce_metrics_port),
                },
            )
        )
        llm_settings = LLMSettings()
        services.append(
            subprocess.Popen(
                [sys.executable, "-m", "cienty_kit", "conversations", "serve"],
                env={
                    **env,
                    "CIENTY_DATABASE_URL": conversations_url,
                    "CIENTY_KNOWLEDGE_DATABASE_URL": knowledge_url,
                    "CIENTY_COMMERCE_ADDR": f"localhost:{commerce_port}",
                    "CIENTY_GRPC_PORT": str(conversations_port),
                    "CIENTY_METRICS_PORT": str(conversations_metrics_port),
                },
            )
        )
        services.extend(
            _whatsapp(
                env,
                data_dir=data_dir,
                commerce_port=commerce_port,
                conversations_port=conversations_port,
                webhook_port=whatsapp_port,
                simulator_port=simulator_port,
            )
        )
        knowledge_state = "empty"
        if knowledge_dir.exists():
            knowledge_state = f"ingesting {knowledge_dir}"
            jobs.append(
                _ingest_knowledge(knowledge_dir, {**env, "CIENTY_DATABASE_URL": knowledge_url})
            )
        else:
            click.echo(f"knowledge: {knowledge_dir} does not exist, nothing ingested")
        token = settings.service_token.get_secret_value()
        click.echo(
            "\nCienty is up (Ctrl-C to stop):\n"
            f"  ▶ WhatsApp simulator http://localhost:{simulator_port}/  "
            "(chat with the agent as a demo pharmacy)\n"
            f"  WhatsApp webhook   http://localhost:{whatsapp_port}/webhook  "
            "(signed Cloud API updates; its worker sends through the simulator's Graph API)\n"
            f"  commerce gRPC      localhost:{commerce_port}  "
            f"(metadata: authorization: Bearer {token})\n"
            f"  commerce metrics   http://localhost:{commerce_metrics_port}/metrics\n"
            f"  conversations gRPC localhost:{conversations_port}  (the agent)\n"
            f"  conversations metrics http://localhost:{conversations_metrics_port}/metrics\n"
            f"  agent model        {'; '.join(describe(llm_settings))}\n"
            "                     (no model answering there: every conversation goes to staff;\n"
            "                     `cienty llm serve --profile cpu` or CIENTY_LLM_* to change)\n"
            f"  PostgreSQL         {database_url}\n"
            f"  knowledge base     {knowledge_url}  (pgvector; {knowledge_state})\n"
            f"  Redis              {redis.url}\n"
            f"  try: grpcurl -plaintext -H 'authorization: Bearer {token}' "
            f'-d \'{{"query": "dipirona"}}\' localhost:{commerce_port} '
            "cienty.commerce.v1.CatalogService/SearchProducts\n"
            f"  try: grpcurl -plaintext -H 'authorization: Bearer {token}' -d "
            '\'{"channel": "CHANNEL_WHATSAPP", "external_id": "wamid.demo1", '
            '"from_phone": "+5511955309902", "text": "quero falar com um atendente"}\' '
            f"localhost:{conversations_port} "
            "cienty.conversations.v1.ConversationService/HandleMessage\n"
            f"  try: CIENTY_DATABASE_URL='{knowledge_url}' cienty kb search "
            '"qual o pedido mínimo?"\n'
        )
        _wait_for_stop(services, jobs)
    finally:
        _stop_all(jobs + services)
        redis.stop()
        postgres.stop()
        click.echo("stopped")


def _whatsapp(
    env: dict[str, str],
    *,
    data_dir: Path,
    commerce_port: int,
    conversations_port: int,
    webhook_port: int,
    simulator_port: int,
) -> list[subprocess.Popen[bytes]]:
    """The gateway (webhook + worker) and the simulator, which stands in for Meta both ways:
    it posts signed webhooks to the gateway and receives what the gateway sends."""
    command = [sys.executable, "-m", "cienty_kit", "whatsapp"]
    gateway = {
        **env,
        "CIENTY_CONVERSATIONS_ADDR": f"localhost:{conversations_port}",
        "CIENTY_WHATSAPP_GRAPH_URL": f"http://127.0.0.1:{simulator_port}/graph/v23.0",
        "CIENTY_MEDIA_DIR": str(data_dir / "whatsapp-media"),
    }
    return [
        subprocess.Popen(
            [*command, "webhook"],
            env={**gateway, "CIENTY_HTTP_PORT": str(webhook_port), "CIENTY_METRICS_PORT": "0"},
        ),
        subprocess.Popen([*command, "worker"], env={**gateway, "CIENTY_METRICS_PORT": "0"}),
        subprocess.Popen(
            [
                *command,
                "simulate",
                "--port",
                str(simulator_port),
                "--gateway-url",
                f"http://127.0.0.1:{webhook_port}",
                "--commerce-addr",
                f"localhost:{commerce_port}",
            ],
            env=gateway,
        ),
    ]


def _ingest_knowledge(directory: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`cienty kb ingest` as a background job: its own session, so Ctrl-C reaches only us."""
    click.echo(f"knowledge: ingesting {directory} in the background")
    command = [sys.executable, "-m", "cienty_kit", "kb", "ingest", str(directory)]
    return subprocess.Popen([*command, "--source-name", "amostra"], env=env, start_new_session=True)


def _wait_for_stop(
    services: list[subprocess.Popen[bytes]], jobs: list[subprocess.Popen[bytes]]
) -> None:
    """Until a signal: a service that exits is fatal, a finished job is reported once."""
    stopping = False
    reported: set[int] = set()

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping:
        for service in services:
            if service.poll() is not None:
                raise click.ClickException(f"a service exited with code {service.returncode}")
        for job in jobs:
            if job.poll() is not None and job.pid not in reported:
                reported.add(job.pid)
                outcome = "done" if job.returncode == 0 else f"failed ({job.returncode})"
                click.echo(f"knowledge: ingestion {outcome}")
        time.sleep(0.2)


def _stop_all(services: list[subprocess.Popen[bytes]]) -> None:
    for service in services:
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
    for service in services:
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
