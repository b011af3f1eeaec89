"""`cienty knowledge-operator`: run the operator (standalone: one replica, no peering)."""

from __future__ import annotations

from typing import Any

import click
import kopf

from cienty_kit.metrics import start_metrics_server
from cienty_knowledge_operator.handlers import Runtime, register
from cienty_knowledge_operator.kube import KubernetesClient
from cienty_knowledge_operator.settings import OperatorSettings


@click.command("knowledge-operator")
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="Watch this namespace (repeatable); default: CIENTY_OPERATOR_NAMESPACES.",
)
@click.option(
    "-A", "--all-namespaces", "clusterwide", is_flag=True, help="Watch the whole cluster."
)
@click.option("--verbose", is_flag=True, help="Log the handlers' debug output.")
def operator(namespaces: tuple[str, ...], clusterwide: bool, verbose: bool) -> None:
    """Turn KnowledgeSource resources into ingestion Jobs (Kopf, standalone)."""
    settings = OperatorSettings()
    watched = list(namespaces) or settings.namespaces
    if not watched:
        clusterwide = True
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(logger: kopf.Logger, **kwargs: Any) -> kopf.ConnectionInfo | None:
        # In-cluster service account, else kubeconfig (exec plugins such as `aws eks` work).
        return await kopf.login_via_async_client(logger=logger, **kwargs)

    register(registry, Runtime(settings=settings, kube_factory=KubernetesClient.connect))
    start_metrics_server(settings.metrics_port)
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON)
    liveness = (
        f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
    )
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=clusterwide,
        namespaces=[] if clusterwide else watched,
        liveness_endpoint=liveness,
    )
