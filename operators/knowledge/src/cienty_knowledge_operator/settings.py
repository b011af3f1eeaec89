"""Operator configuration, from `CIENTY_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CIENTY_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    # Namespaces watched, comma-separated; empty: the whole cluster (needs a ClusterRole).
    operator_namespaces: str = ""
    worker_image: str = "cienty/knowledge:latest"
    worker_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    worker_service_account: str = "cienty-knowledge-worker"
    # Secret / ConfigMap whose keys become the worker's environment (database URL, Weaviate…).
    worker_env_secret: str | None = None
    worker_env_config_map: str | None = None
    job_cpu_request: str = "250m"
    job_memory_request: str = "512Mi"
    job_cpu_limit: str = "2"
    job_memory_limit: str = "2Gi"
    job_backoff_limit: int = Field(default=2, ge=0, le=20)
    job_ttl_seconds_after_finished: int = Field(default=3600, ge=0)
    job_active_deadline_seconds: int = Field(default=3600, ge=1)
    # How often each KnowledgeSource's timer checks its Job and its schedule.
    resync_check_seconds: float = Field(default=30.0, gt=0)
    # The finalizer's retry delay when the vector store is unreachable: doubles up to the max.
    finalizer_retry_seconds: float = Field(default=5.0, gt=0)
    finalizer_retry_max_seconds: float = Field(default=300.0, gt=0)
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    liveness_port: int = Field(default=8080, ge=0, le=65535)

    @property
    def namespaces(self) -> list[str]:
        return [ns.strip() for ns in self.operator_namespaces.split(",") if ns.strip()]
