"""Against a real cluster (KUBECONFIG set): CRD applied, a KnowledgeSource gets its Job, the
finalizer lets it go. The only test here that may skip."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from kopf.testing import KopfRunner

from cienty_knowledge_operator.handlers import Runtime, register
from cienty_knowledge_operator.kube import KubernetesClient
from cienty_knowledge_operator.settings import OperatorSettings

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="KUBECONFIG is not set: no Kubernetes cluster to run the end-to-end test against",
)
CRD = Path(__file__).resolve().parents[2] / "k8s/crds/knowledgesources.knowledge.cienty.io.yaml"
NAMESPACE = os.environ.get("CIENTY_E2E_NAMESPACE", "default")
NAME = "e2e-faq"


async def _api(call: str, *args: Any) -> Any:
    from kubernetes_asyncio import client, config

    await config.load_kube_config()
    async with client.ApiClient() as api:
        if call == "apply_crd":
            try:
                await client.ApiextensionsV1Api(api).create_custom_resource_definition(args[0])
            except client.ApiException as error:
                if error.status != 409:
                    raise
            return None
        custom = client.CustomObjectsApi(api)
        group = ("knowledge.cienty.io", "v1alpha1", NAMESPACE, "knowledgesources")
        if call == "create":
            return await custom.create_namespaced_custom_object(*group, args[0])
        if call == "delete":
            return await custom.delete_namespaced_custom_object(*group, NAME)
        if call == "exists":
            try:
                await custom.get_namespaced_custom_object(*group, NAME)
            except client.ApiException as error:
                if error.status == 404:
                    return False
                raise
            return True
        jobs = await client.BatchV1Api(api).list_namespaced_job(
            NAMESPACE, label_selector=f"knowledge.cienty.io/source={NAME}"
        )
        return [job.metadata.name for job in jobs.items]


def _wait(predicate: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("timed out")


def test_a_knowledge_source_gets_its_job_in_a_real_cluster() -> None:
    asyncio.run(_api("apply_crd", yaml.safe_load(CRD.read_text())))
    deleted: list[str] = []

    async def fake_delete(collection: str, source: str) -> int:
        deleted.append(source)
        return 0

    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(logger: kopf.Logger, **kwargs: Any) -> kopf.ConnectionInfo | None:
        return await kopf.login_via_async_client(logger=logger, **kwargs)

    register(
        registry,
        Runtime(
            settings=OperatorSettings(resync_check_seconds=5),
            kube_factory=KubernetesClient.connect,
            delete_vectors=fake_delete,
        ),
    )
    body = {
        "apiVersion": "knowledge.cienty.io/v1alpha1",
        "kind": "KnowledgeSource",
        "metadata": {"name": NAME},
        "spec": {"source": {"inline": {"documents": [{"name": "a.md", "content": "# A"}]}}},
    }
    with KopfRunner(
        ["run", "--standalone", "--namespace", NAMESPACE], registry=registry, timeout=60
    ):
        asyncio.run(_api("create", body))
        assert _wait(lambda: asyncio.run(_api("jobs"))) == [f"{NAME}-g1-s0"]
        asyncio.run(_api("delete"))
        _wait(lambda: not asyncio.run(_api("exists")))
    assert deleted == [NAME]
