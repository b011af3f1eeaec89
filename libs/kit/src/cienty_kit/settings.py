"""Settings shared by every service, read from `CIENTY_*` environment variables."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SERVICE_TOKEN = "dev-service-token"


class ServiceSettings(BaseSettings):
    """Base class of each service's settings; built once at the composition root."""

    model_config = SettingsConfigDict(env_prefix="CIENTY_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    service_token: SecretStr = SecretStr(DEVELOPMENT_SERVICE_TOKEN)
    grpc_host: str = "[::]"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # Calls beyond this many in flight are refused at once with RESOURCE_EXHAUSTED (0 = no
    # limit), so an overloaded pod sheds load instead of queueing until every deadline expires.
    grpc_max_concurrent_rpcs: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Self:
        if self.environment == "production":
            token = self.service_token.get_secret_value()
            if token == DEVELOPMENT_SERVICE_TOKEN or len(token) < 16:
                raise ValueError(
                    "CIENTY_SERVICE_TOKEN must be set to a secret of at least 16 characters "
                    "in production"
                )
        return self
