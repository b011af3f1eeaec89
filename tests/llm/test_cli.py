"""`cienty llm chat` goes through the client and says who answered."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cienty_kit.cli import main
from tests.fakes import FakeAnthropicServer, FakeOpenAIServer, Reply
from tests.llm.conftest import FALLBACK_MODEL, PRIMARY_MODEL


@pytest.fixture
def env(primary: FakeOpenAIServer, fallback: FakeAnthropicServer) -> dict[str, str]:
    return {
        "CIENTY_LLM_PRIMARY_URL": primary.url + "/v1",
        "CIENTY_LLM_PRIMARY_MODEL": PRIMARY_MODEL,
        "CIENTY_LLM_FALLBACK_MODEL": FALLBACK_MODEL,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fallback.url,
        "CIENTY_LLM_RETRY_BACKOFF_SECONDS": "0.01",
    }


def test_chat_streams_the_answer_and_names_the_provider(
    env: dict[str, str], primary: FakeOpenAIServer
) -> None:
    primary.enqueue(Reply("Olá! Como posso ajudar?"))
    result = CliRunner().invoke(main, ["llm", "chat", "oi"], env=env)
    assert result.exit_code == 0, result.output
    assert "Olá! Como posso ajudar?" in result.stdout
    assert f"answered by self_hosted ({PRIMARY_MODEL})" in result.stderr
    assert f"fallback: anthropic {FALLBACK_MODEL}" in result.stderr


def test_chat_json_reports_the_fallback(
    env: dict[str, str], primary: FakeOpenAIServer, fallback: FakeAnthropicServer
) -> None:
    primary.enqueue(primary.internal_error(), primary.internal_error())
    fallback.enqueue(Reply("Resposta do Claude."))
    result = CliRunner().invoke(main, ["llm", "chat", "oi", "--json"], env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["provider"] == "anthropic"
    assert answer["text"] == "Resposta do Claude."
    assert answer["failed_providers"] == ["self_hosted"]
    assert answer["fallback_used"] is True


def test_chat_fails_with_the_typed_error_when_nobody_answers(
    env: dict[str, str], primary: FakeOpenAIServer
) -> None:
    primary.enqueue(primary.internal_error(), primary.internal_error())
    env = {**env, "CIENTY_LLM_FALLBACK_MODEL": ""}
    result = CliRunner().invoke(main, ["llm", "chat", "oi", "--json"], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "LLMUnavailable"


def test_misconfiguration_is_a_usage_error(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["llm", "chat", "oi"], env={**env, "ANTHROPIC_API_KEY": ""})
    assert result.exit_code == 2
    assert "ANTHROPIC_API_KEY" in result.output
