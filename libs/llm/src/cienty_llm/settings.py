"""The LLM client's configuration: `CIENTY_LLM_*`, plus the Anthropic SDK's own variables."""

from __future__ import annotations

from typing import Self

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderPrices(BaseModel):
    """US dollars per million tokens (self-hosted: the GPU's cost spread over its tokens)."""

    model_config = ConfigDict(frozen=True)

    input_usd_per_million: float = Field(default=0.0, ge=0)
    output_usd_per_million: float = Field(default=0.0, ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_usd_per_million + output_tokens * self.output_usd_per_million
        ) / 1_000_000


class LLMSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CIENTY_LLM_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,  # VAR= in a manifest means unset, not the empty string
    )

    # The self-hosted model: the Ray Serve LLM application's OpenAI-compatible base URL.
    primary_url: AnyHttpUrl | None = AnyHttpUrl("http://localhost:8000/v1")
    primary_model: str = "llama-3.1-8b-instruct"
    primary_api_key: SecretStr = SecretStr("not-needed")
    primary_prices: ProviderPrices = ProviderPrices()

    # Claude as the fallback; no model means no fallback.
    fallback_model: str | None = None
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: AnyHttpUrl | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )
    # Claude Sonnet list prices; override to match the contract.
    fallback_prices: ProviderPrices = ProviderPrices(
        input_usd_per_million=3.0, output_usd_per_million=15.0
    )
    # Llama 3 makes one tool call per turn: ask Claude for the same, so the agent sees one shape.
    fallback_disable_parallel_tool_use: bool = True

    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    first_token_timeout_seconds: float = Field(default=10.0, gt=0)
    total_timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=1, ge=0, le=5)
    retry_backoff_seconds: float = Field(default=0.25, ge=0)
    # A `retry-after` longer than this is not waited for: the request fails over instead.
    max_retry_after_seconds: float = Field(default=2.0, ge=0)
    breaker_failure_threshold: int = Field(default=3, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    # An exhausted spend limit does not come back in seconds: keep the provider out this long.
    spend_limit_cooldown_seconds: float = Field(default=3600.0, gt=0)
    max_output_tokens: int = Field(default=1024, ge=1)
    # Invalid tool-call arguments are re-asked once, forcing that tool (structured outputs).
    reask_invalid_tool_calls: bool = True

    @property
    def fallback_enabled(self) -> bool:
        return self.fallback_model is not None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.fallback_model is not None and self.anthropic_api_key is None:
            raise ValueError(
                "CIENTY_LLM_FALLBACK_MODEL is set but ANTHROPIC_API_KEY is not: "
                "set the key, or unset the fallback model to run without a fallback"
            )
        if self.primary_url is None and self.fallback_model is None:
            raise ValueError("no LLM provider: set CIENTY_LLM_PRIMARY_URL or a fallback")
        if self.first_token_timeout_seconds > self.total_timeout_seconds:
            raise ValueError("the first-token timeout cannot exceed the total timeout")
        return self
