"""The `cienty` command line: plugin discovery, demo seeding, and `cienty dev up` end to end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from click.testing import CliRunner

from cienty.commerce.v1 import catalog_pb2, catalog_pb2_grpc
from cienty.conversations.v1 import conversations_pb2, conversations_pb2_grpc
from cienty_dev.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from cienty_kit.cli import main


def test_components_register_their_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for group in ("commerce", "conversations", "eval", "dev", "demo"):
        assert re.search(rf"^\s+{group}\s", result.output, re.MULTILINE), result.output
    commerce = CliRunner().invoke(main, ["commerce", "--help"])
    assert "migrate" in commerce.output
    assert "serve" in commerce.output


def test_demo_seed_is_repeatable(
    postgres: EmbeddedPostgres, redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.database_url("cienty_seed")
    monkeypatch.setenv("CIENTY_DATABASE_URL", url)
    monkeypatch.setenv("CIENTY_REDIS_URL", redis_server.url)
    runner = CliRunner()
    assert runner.invoke(main, ["commerce", "migrate"]).exit_code == 0
    first = runner.invoke(main, ["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "12 customers, 68 products created, 0 already there" in first.output
    second = runner.invoke(main, ["demo", "seed"])
    assert second.exit_code == 0, second.output
    assert "0 products created, 68 already there" in second.output


def test_dev_up_serves_the_seeded_platform_and_stops_cleanly(tmp_path: Path) -> None:
    grpc_port, metrics_port, redis_port = free_port(), free_port(), free_port()
    agent_port, agent_metrics_port = free_port(), free_port()
    webhook_port, simulator_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "cienty_kit", "dev", "up",
            "--data-dir", str(tmp_path / "dev"),
            "--commerce-port", str(grpc_port),
            "--commerce-metrics-port", str(metrics_port),
            "--redis-port", str(redis_port),
            "--conversations-port", str(agent_port),
            "--conversations-metrics-port", str(agent_metrics_port),
            "--whatsapp-port", str(webhook_port),
            "--simulator-port", str(simulator_port),
        ],
        # Nothing listens there: the agent hands conversations to staff, as documented.
        env={
            **os.environ,
            "CIENTY_SERVICE_TOKEN": "dev-up-token",
            "CIENTY_LLM_PRIMARY_URL": f"http://127.0.0.1:{free_port()}/v1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        product = _search_until_up(f"127.0.0.1:{grpc_port}", "dev-up-token")
        assert "Dipirona" in product
        reply = _message_until_up(f"127.0.0.1:{agent_port}", "dev-up-token")
        assert reply.handed_off  # a demo pharmacy asked for a person
        # The demo: a pharmacy writes in the simulator; the signed webhook goes through the
        # gateway, its worker, conversations, the outbound stream, the sender, and back into
        # the simulator's stand-in Graph API.
        answer = _chat_in_simulator(f"http://127.0.0.1:{simulator_port}", "vou no Procon!")
        assert "pessoa da nossa equipe" in answer
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert f"commerce gRPC      localhost:{grpc_port}" in output
    assert f"conversations gRPC localhost:{agent_port}" in output
    assert "migrated: commerce, conversations" in output
    assert "knowledge: ingesting knowledge/samples/distribuidora in the background" in output
    assert "/cienty_knowledge" in output  # the knowledge base's own database
    assert "grpc_server_stopped" in output
    assert output.rstrip().endswith("stopped")


def _chat_in_simulator(base: str, text: str) -> str:
    """Sends `text` as the simulator's second pharmacy (the first one already asked for a
    person over gRPC, and the bot stays silent for it); returns the first answer it shows."""
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=base, timeout=5) as client:
        while True:
            try:
                config = client.get("/api/config").json()
                wa_id = config["customers"][1]["wa_id"]
                sent = client.post(f"/api/chats/{wa_id}/messages", json={"text": text})
                if sent.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the simulator never accepted a message")
            time.sleep(0.5)
        while time.monotonic() < deadline:
            feed = client.get(f"/api/chats/{wa_id}").json()["messages"]
            texts = [str(m.get("text", "")) for m in feed if m["direction"] == "out"]
            if texts:
                return texts[0]
            time.sleep(0.3)
    raise AssertionError(f"no answer in the simulator: {feed}")


def _message_until_up(address: str, token: str) -> conversations_pb2.AgentReply:
    deadline = time.monotonic() + 90
    with grpc.insecure_channel(address) as channel:
        stub = conversations_pb2_grpc.ConversationServiceStub(channel)
        while True:
            try:
                reply: conversations_pb2.AgentReply = stub.HandleMessage(
                    conversations_pb2.InboundMessage(
                        channel=conversations_pb2.CHANNEL_WHATSAPP,
                        external_id="wamid.dev-up",
                        from_phone="+5511955309902",
                        text="quero falar com um atendente",
                    ),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=5,
                )
                return reply
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)


def _search_until_up(address: str, token: str) -> str:
    deadline = time.monotonic() + 90
    with grpc.insecure_channel(address) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        while True:
            try:
                response = stub.SearchProducts(
                    catalog_pb2.SearchProductsRequest(query="dipirona", page_size=1),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=2,
                )
                return response.products[0].name
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
