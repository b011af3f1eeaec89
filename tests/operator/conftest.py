"""The operator under test: real Kopf and real handlers against the in-process API stand-in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner

from cienty_knowledge_operator.handlers import Runtime, register
from cienty_knowledge_operator.kube import Kube, KubernetesClient
from cienty_knowledge_operator.settings import OperatorSettings
from tests.operator.fake_kube import FakeKubernetes


class ManualClock:
    """Real time plus an offset the test moves forward (the schedule's notion of now)."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta


@dataclass
class FakeStore:
    """Stands in for the vector store's delete_source; `down` makes it unreachable."""

    down: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)
    failures: int = 0

    async def delete_source(self, collection: str, source: str) -> int:
        if self.down:
            self.failures += 1
            raise ConnectionRefusedError("connect to 10.0.0.7:5432 refused")
        self.calls.append((collection, source))
        return 3


@dataclass
class Operator:
    fake: FakeKubernetes
    store: FakeStore
    clock: ManualClock
    settings: OperatorSettings

    def run(self) -> KopfRunner:
        """A fresh operator process-equivalent: new registry, runtime and API client."""
        url = self.fake.url
        registry = kopf.OperatorRegistry()

        async def connect() -> Kube:
            return KubernetesClient.for_server(url)

        runtime = Runtime(
            settings=self.settings,
            kube_factory=connect,
            delete_vectors=self.store.delete_source,
            clock=self.clock,
        )
        register(registry, runtime)

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True)

        settings = kopf.OperatorSettings()
        settings.execution.default_backoff = 1  # retries of unexpected errors (not timings)
        return KopfRunner(
            ["run", "--standalone", "--namespace", "default"],
            registry=registry,
            settings=settings,
            timeout=60,
        )


@pytest.fixture
def fake_kube() -> Iterator[FakeKubernetes]:
    fake = FakeKubernetes()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def operator(fake_kube: FakeKubernetes) -> Operator:
    settings = OperatorSettings(
        worker_image="registry.example/cienty/knowledge:test",
        worker_service_account="knowledge-worker",
        worker_env_secret="knowledge-env",
        resync_check_seconds=1.0,
        finalizer_retry_seconds=1.0,
        finalizer_retry_max_seconds=2.0,
        metrics_port=0,
    )
    return Operator(fake_kube, FakeStore(), ManualClock(), settings)
