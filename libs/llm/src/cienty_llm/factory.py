"""Builds the client from settings: the one place that knows which providers exist."""

from __future__ import annotations

import structlog

from cienty_llm.client import LLMClient
from cienty_llm.providers.anthropic import AnthropicProvider
from cienty_llm.providers.base import Provider
from cienty_llm.providers.openai_compatible import OpenAICompatibleProvider
from cienty_llm.settings import LLMSettings

SELF_HOSTED = "self_hosted"
ANTHROPIC = "anthropic"


def describe(settings: LLMSettings) -> list[str]:
    """One line per provider, in the order they are tried, for logs and the CLI."""
    lines = []
    if settings.primary_url is not None:
        lines.append(f"primary: {SELF_HOSTED} {settings.primary_model} at {settings.primary_url}")
    if settings.fallback_model is not None:
        where = settings.anthropic_base_url or "https://api.anthropic.com"
        lines.append(f"fallback: {ANTHROPIC} {settings.fallback_model} at {where}")
    else:
        lines.append("fallback: none (CIENTY_LLM_FALLBACK_MODEL is not set)")
    return lines


def build_llm_client(settings: LLMSettings) -> LLMClient:
    log = structlog.get_logger(__name__)  # not cached at import: start-up is rare
    providers: list[Provider] = []
    if settings.primary_url is not None:
        providers.append(
            OpenAICompatibleProvider(
                name=SELF_HOSTED,
                base_url=str(settings.primary_url),
                model=settings.primary_model,
                api_key=settings.primary_api_key.get_secret_value(),
                prices=settings.primary_prices,
                connect_timeout=settings.connect_timeout_seconds,
                total_timeout=settings.total_timeout_seconds,
            )
        )
    if settings.fallback_model is not None:
        assert settings.anthropic_api_key is not None  # checked by LLMSettings
        providers.append(
            AnthropicProvider(
                name=ANTHROPIC,
                model=settings.fallback_model,
                api_key=settings.anthropic_api_key.get_secret_value(),
                base_url=str(settings.anthropic_base_url) if settings.anthropic_base_url else None,
                prices=settings.fallback_prices,
                connect_timeout=settings.connect_timeout_seconds,
                total_timeout=settings.total_timeout_seconds,
                disable_parallel_tool_use=settings.fallback_disable_parallel_tool_use,
            )
        )
    else:
        log.warning(
            "llm.fallback_disabled",
            detail="CIENTY_LLM_FALLBACK_MODEL is not set: when the self-hosted model fails, "
            "requests fail and conversations go to a person",
        )
    log.info("llm.providers", providers=describe(settings))
    return LLMClient(providers, settings)
