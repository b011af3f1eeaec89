"""Gateway settings (`CIENTY_*` environment variables)."""

from __future__ import annotations

from typing import Self

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from cienty_kit.settings import ServiceSettings

DEVELOPMENT_APP_SECRET = "dev-app-secret"
DEVELOPMENT_VERIFY_TOKEN = "dev-verify-token"
DEVELOPMENT_ACCESS_TOKEN = "dev-access-token"


class GatewaySettings(ServiceSettings):
    # Meta's app: the webhook signature key, the handshake token, the Graph API token.
    whatsapp_app_secret: SecretStr = SecretStr(DEVELOPMENT_APP_SECRET)
    whatsapp_verify_token: SecretStr = SecretStr(DEVELOPMENT_VERIFY_TOKEN)
    whatsapp_access_token: SecretStr = SecretStr(DEVELOPMENT_ACCESS_TOKEN)
    whatsapp_phone_number_id: str = Field(default="100000000000001", pattern=r"^\d{1,32}$")
    # The Graph API base URL with its version; tests and the simulator point it elsewhere.
    whatsapp_graph_url: AnyHttpUrl = AnyHttpUrl("https://graph.facebook.com/v23.0")
    redis_url: str = "redis://localhost:6379/0"
    conversations_addr: str = "localhost:50052"
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Meta's payloads are up to 3 MB.
    webhook_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Meta redelivers for up to 7 days: message ids are remembered a little longer.
    dedupe_ttl_hours: float = Field(default=8 * 24, ge=7 * 24)
    # Inbound work is split by chat over this many streams; each is worked by one worker at a
    # time, which keeps every chat's messages in order. Changing it re-partitions chats: drain
    # the streams first.
    inbound_partitions: int = Field(default=16, ge=1, le=1024)
    # Deadline of each HandleMessage call (the agent's turn may take up to a minute).
    handle_deadline_seconds: float = Field(default=75.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    # Per-number flood protection: a token bucket of this size, refilled at this rate.
    flood_burst: int = Field(default=10, ge=1)
    flood_per_minute: float = Field(default=20.0, gt=0)
    # Pacing of sends to one recipient (Meta's pair rate: about one message every 6 s).
    pace_seconds: float = Field(default=6.0, ge=0)
    pace_burst: int = Field(default=3, ge=1)
    # Where downloaded media is kept for staff.
    media_dir: str = "/tmp/cienty-whatsapp-media"
    # Messages older than this (a redelivery days late) go to staff, not to the agent.
    stale_message_hours: float = Field(default=24.0, gt=0)
    outbound_stream: str = "conversations.outbound"
    outbound_group: str = "whatsapp-gateway"

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> Self:
        if self.environment == "production":
            for name, value, default in (
                ("CIENTY_WHATSAPP_APP_SECRET", self.whatsapp_app_secret, DEVELOPMENT_APP_SECRET),
                (
                    "CIENTY_WHATSAPP_VERIFY_TOKEN",
                    self.whatsapp_verify_token,
                    DEVELOPMENT_VERIFY_TOKEN,
                ),
                (
                    "CIENTY_WHATSAPP_ACCESS_TOKEN",
                    self.whatsapp_access_token,
                    DEVELOPMENT_ACCESS_TOKEN,
                ),
            ):
                if value.get_secret_value() in ("", default):
                    raise ValueError(f"{name} must be set in production")
        return self
