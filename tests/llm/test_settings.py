"""Configuration: a fallback needs its key; no fallback is allowed and said clearly."""

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from cienty_llm.factory import build_llm_client, describe
from cienty_llm.settings import LLMSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CIENTY_LLM_FALLBACK_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_fallback_model_without_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="ANTHROPIC_API_KEY is not"):
        LLMSettings(fallback_model="claude-sonnet-5")


def test_anthropic_variables_are_the_sdk_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIENTY_LLM_FALLBACK_MODEL", "claude-sonnet-5")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://claude.internal:8080")
    monkeypatch.setenv("CIENTY_LLM_FALLBACK_PRICES__INPUT_USD_PER_MILLION", "1.5")
    settings = LLMSettings()
    assert settings.fallback_enabled
    assert settings.fallback_prices.input_usd_per_million == 1.5
    assert describe(settings)[1] == (
        "fallback: anthropic claude-sonnet-5 at http://claude.internal:8080/"
    )


def test_no_fallback_is_said() -> None:
    settings = LLMSettings()
    assert not settings.fallback_enabled
    assert describe(settings)[-1] == "fallback: none (CIENTY_LLM_FALLBACK_MODEL is not set)"
    with capture_logs() as logs:
        client = build_llm_client(settings)
    assert client.provider_names == ("self_hosted",)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["llm.fallback_disabled"]


def test_timeouts_must_be_coherent() -> None:
    with pytest.raises(ValidationError, match="first-token timeout"):
        LLMSettings(first_token_timeout_seconds=30, total_timeout_seconds=10)
    with pytest.raises(ValidationError, match="no LLM provider"):
        LLMSettings(primary_url=None)
