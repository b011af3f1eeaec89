"""The few Kubernetes API calls the operator makes itself (Kopf does the watching).

Bodies stay plain JSON dictionaries (the wire format), not generated model classes, so the
manifest built in `jobs.py` is exactly what is sent and tests compare plain data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes_asyncio import client, config

from cienty_knowledge_operator.constants import GROUP, PLURAL, VERSION

_MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"Kubernetes API answered {status}: {body[:300]}")


class Kube(Protocol):
    async def create_job(self, namespace: str, job: Mapping[str, Any]) -> bool:
        """True if created, False if a Job of that name already existed (409)."""
        ...

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    async def delete_job(self, namespace: str, name: str) -> None:
        """Background propagation; an absent Job is not an error."""
        ...

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    async def read_pod_log(self, namespace: str, name: str, tail_lines: int) -> str: ...

    async def get_source(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_source_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        """Merge-patch the status subresource; an absent source is not an error."""
        ...

    async def close(self) -> None: ...


async def _read(response: Any, *, missing_ok: bool = False, conflict_ok: bool = False) -> Any:
    """JSON of a raw aiohttp response (`_preload_content=False`), or None for an allowed
    404/409; other errors raise KubeError."""
    try:
        text = await response.text()
        status = int(response.status)
    finally:
        response.release()
    if (status == 404 and missing_ok) or (status == 409 and conflict_ok):
        return None
    if status >= 400:
        raise KubeError(status, text)
    return json.loads(text) if text else {}


class KubernetesClient:
    """`Kube` over kubernetes-asyncio (in-cluster service account or kubeconfig)."""

    def __init__(self, api: Any) -> None:
        self._api = api
        # Any: the package's stubs do not know `_preload_content=False` (raw responses) and
        # `_content_type`, which the generated methods accept.
        self._batch: Any = client.BatchV1Api(api)
        self._core: Any = client.CoreV1Api(api)
        self._custom: Any = client.CustomObjectsApi(api)

    @classmethod
    async def connect(cls) -> KubernetesClient:
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(client_configuration=configuration)
        return cls(client.ApiClient(configuration))

    @classmethod
    def for_server(cls, server: str) -> KubernetesClient:
        """An unauthenticated client of `server` (tests' API stand-in, `kubectl proxy`)."""
        configuration = client.Configuration(host=server)
        return cls(client.ApiClient(configuration))

    async def create_job(self, namespace: str, job: Mapping[str, Any]) -> bool:
        response = await self._batch.create_namespaced_job(
            namespace, dict(job), _preload_content=False
        )
        return await _read(response, conflict_ok=True) is not None

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        response = await self._batch.read_namespaced_job(name, namespace, _preload_content=False)
        result: dict[str, Any] | None = await _read(response, missing_ok=True)
        return result

    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        response = await self._batch.list_namespaced_job(
            namespace, label_selector=label_selector, _preload_content=False
        )
        items: list[dict[str, Any]] = (await _read(response))["items"] or []
        return items

    async def delete_job(self, namespace: str, name: str) -> None:
        response = await self._batch.delete_namespaced_job(
            name, namespace, propagation_policy="Background", _preload_content=False
        )
        await _read(response, missing_ok=True)

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        response = await self._core.list_namespaced_pod(
            namespace, label_selector=label_selector, _preload_content=False
        )
        items: list[dict[str, Any]] = (await _read(response))["items"] or []
        return items

    async def read_pod_log(self, namespace: str, name: str, tail_lines: int) -> str:
        response = await self._core.read_namespaced_pod_log(
            name, namespace, tail_lines=tail_lines, _preload_content=False
        )
        try:
            text: str = await response.text()
            ok = response.status < 400
        finally:
            response.release()
        return text if ok else ""

    async def get_source(self, namespace: str, name: str) -> dict[str, Any] | None:
        response = await self._custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _preload_content=False
        )
        result: dict[str, Any] | None = await _read(response, missing_ok=True)
        return result

    async def patch_source_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        response = await self._custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": dict(status)},
            _content_type=_MERGE_PATCH,
            _preload_content=False,
        )
        await _read(response, missing_ok=True)

    async def close(self) -> None:
        await self._api.close()
