"""The knowledge component of charts/cienty: the Kopf operator, its RBAC, the settings it hands
to the ingestion Jobs, the CRD copy, its image (operators/knowledge/Dockerfile) and skaffold.

Rendered offline with the helpers of test_chart.py; no cluster and no Docker engine needed.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from cienty_knowledge.settings import KnowledgeSettings
from cienty_knowledge_operator.jobs import build_job
from cienty_knowledge_operator.settings import OperatorSettings
from tests.charts.test_chart import (
    CHART,
    CREDENTIALS,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    ROOT,
    Manifest,
    chart,
    container,
    env_of,
    kinds,
    merge,
    notes,
    render,
    validate_strict,
)

# Re-exported: the module-scoped `chart` fixture of test_chart.py, used here by name.
__all__ = ["chart"]

KB_DATABASE_URL = "postgresql://knowledge:kn0wledge-pw@kb-db.example.internal:5432/knowledge"
WEAVIATE_API_KEY = "weaviate-api-key-of-some-length"
ENABLED: dict[str, Any] = {
    "knowledge": {"enabled": True, "secrets": {"databaseUrl": KB_DATABASE_URL}}
}
SECRET_ENV = {"CIENTY_DATABASE_URL", "CIENTY_WEAVIATE_API_KEY"}
RBAC_FILE = ROOT / "operators" / "knowledge" / "deploy" / "rbac.yaml"
CRD_NAME = "knowledgesources.knowledge.cienty.io.yaml"
DOCKERFILE = ROOT / "operators" / "knowledge" / "Dockerfile"
# Resources that only exist cluster-wide: a Role cannot grant them.
CLUSTER_SCOPED = {"customresourcedefinitions", "namespaces"}


def is_knowledge(manifest: Manifest) -> bool:
    labels = manifest["metadata"].get("labels", {})
    return (
        labels.get("app.kubernetes.io/component", "").startswith("knowledge")
        or "knowledge" in manifest["metadata"]["name"]
    )


def knowledge_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if is_knowledge(m)]


def one(manifests: list[Manifest], kind: str, **where: str) -> Manifest:
    """The single knowledge object of `kind` (optionally in namespace=...)."""
    found = [
        m
        for m in knowledge_objects(manifests)
        if m["kind"] == kind
        and all(m["metadata"].get(key) == value for key, value in where.items())
    ]
    assert len(found) == 1, f"expected one {kind} {where}, found {len(found)}"
    return found[0]


def operator(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "Deployment")


def config_data(manifests: list[Manifest], namespace: str = NAMESPACE) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap", namespace=namespace)["data"]
    return data


def every_option() -> dict[str, Any]:
    return {
        "global": {
            "imageRegistry": "123456789012.dkr.ecr.sa-east-1.amazonaws.com",
            "imageTag": "abc123",
            "imagePullSecrets": ["regcred"],
            "commonLabels": {"team": "platform"},
        },
        "knowledge": {
            "enabled": True,
            "image": {"pullPolicy": "Always"},
            "logLevel": "DEBUG",
            "vectorBackend": "weaviate",
            "weaviateUrl": "http://weaviate.weaviate.svc:80",
            "embeddingUrl": "http://llm-serve-svc:8000/embeddings/v1",
            "embeddingModel": "bge-m3",
            "collection": "catalogo",
            "extraEnv": {"CIENTY_RESYNC_CHECK_SECONDS": 15, "CIENTY_EMBEDDING_BATCH_SIZE": 64},
            "secrets": {"databaseUrl": KB_DATABASE_URL, "weaviateApiKey": WEAVIATE_API_KEY},
            "operator": {
                "verbose": True,
                "serviceAccount": {"name": "kb-operator", "annotations": {"a.example/b": "c"}},
                "podAnnotations": {"example.com/scrape": "true"},
                "podLabels": {"example.com/tier": "control"},
                "priorityClassName": "cienty-high",
                "nodeSelector": {"cienty.io/pool": "general"},
                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/arch",
                                            "operator": "In",
                                            "values": ["amd64"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                },
                "service": {"annotations": {"example.com/owner": "platform"}},
                "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
            },
            "worker": {
                "serviceAccount": {
                    "name": "kb-worker",
                    "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/kb"},
                },
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "4", "memory": "4Gi"},
                },
                "backoffLimit": 4,
                "ttlSecondsAfterFinished": 600,
                "activeDeadlineSeconds": 7200,
            },
        },
    }


# ------------------------------------------------------------------------ valid, lint, schema


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_defaults_render_valid_manifests_without_the_component(
    chart: helm.Chart, version: str
) -> None:
    """knowledge is opt-in: the defaults (and an existing commerce release) do not change."""
    manifests = render(chart)
    assert knowledge_objects(manifests) == []
    for manifest in manifests:
        validate_strict(manifest, version)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize(
    "layer",
    [
        pytest.param({}, id="cluster-wide"),
        pytest.param(
            {"knowledge": {"operator": {"watchNamespaces": ["team-a", NAMESPACE]}}},
            id="namespaced",
        ),
        pytest.param(every_option(), id="every-option"),
        pytest.param({"knowledge": {"secrets": {"existingSecret": "kb"}}}, id="existing-secret"),
    ],
)
def test_enabled_renders_valid_manifests(
    chart: helm.Chart, version: str, layer: dict[str, Any]
) -> None:
    manifests = render(chart, CREDENTIALS, ENABLED, layer)
    assert knowledge_objects(manifests)
    for manifest in manifests:
        if manifest["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # a CRD of the Prometheus Operator: checked in test_metrics_service...
        validate_strict(manifest, version)


def test_chart_lints_with_the_component_enabled() -> None:
    for layer in ({}, every_option(), {"knowledge": {"operator": {"watchNamespaces": ["a"]}}}):
        values = merge(CREDENTIALS, ENABLED, layer)
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_schema_accepts_a_full_configuration(chart: helm.Chart) -> None:
    chart.validate_schema(chart.merge_values(merge(CREDENTIALS, every_option())))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"knowledge": {"replicaCount": 2}}, id="unknown-key-replicas"),
        pytest.param({"knowledge": {"operator": {"replicas": 2}}}, id="unknown-operator-key"),
        pytest.param({"knowledge": {"worker": {"image": "x"}}}, id="unknown-worker-key"),
        pytest.param({"knowledge": {"secrets": {"redisUrl": "redis://x"}}}, id="unknown-secret"),
        pytest.param(
            {"knowledge": {"secrets": {"existingSecretKeys": {"databaseUrl": "url"}}}},
            id="no-key-mapping",
        ),
        pytest.param({"knowledge": {"enabled": "yes"}}, id="enabled-string"),
        pytest.param({"knowledge": {"vectorBackend": "qdrant"}}, id="unknown-backend"),
        pytest.param({"knowledge": {"weaviateUrl": "weaviate:8080"}}, id="weaviate-not-url"),
        pytest.param({"knowledge": {"embeddingUrl": "grpc://x"}}, id="embedding-not-http"),
        pytest.param({"knowledge": {"collection": "Catalogo"}}, id="collection-pattern"),
        pytest.param({"knowledge": {"logLevel": "TRACE"}}, id="log-level"),
        pytest.param({"knowledge": {"image": {"pullPolicy": "Sometimes"}}}, id="pull-policy"),
        pytest.param({"knowledge": {"image": {"digest": "latest"}}}, id="digest"),
        pytest.param(
            {"knowledge": {"secrets": {"databaseUrl": "mysql://db/kb"}}}, id="not-postgres"
        ),
        pytest.param(
            {"knowledge": {"operator": {"watchNamespaces": ["team_a"]}}}, id="namespace-name"
        ),
        pytest.param(
            {"knowledge": {"operator": {"watchNamespaces": ["a", "a"]}}}, id="namespace-twice"
        ),
        pytest.param({"knowledge": {"operator": {"watchNamespaces": "a,b"}}}, id="ns-string"),
        pytest.param({"knowledge": {"operator": {"ports": {"metrics": 70000}}}}, id="port-range"),
        pytest.param({"knowledge": {"worker": {"backoffLimit": 21}}}, id="backoff-over-20"),
        pytest.param(
            {"knowledge": {"worker": {"resources": {"limits": {"memory": "2 GB"}}}}},
            id="memory-quantity",
        ),
        pytest.param(
            {"knowledge": {"extraEnv": {"CIENTY_DATABASE_URL": KB_DATABASE_URL}}},
            id="secret-in-configmap",
        ),
        pytest.param(
            {"knowledge": {"extraEnv": {"CIENTY_WORKER_IMAGE": "evil:1"}}}, id="managed-env"
        ),
        pytest.param({"knowledge": {"extraEnv": {"HOME": "/tmp"}}}, id="extra-env-not-cienty"),
        pytest.param({"knowledg": {"enabled": True}}, id="misspelt-component"),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(chart.merge_values(bad))
    with pytest.raises(helm.HelmValuesError):
        render(chart, bad)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"knowledge": {"vectorBackend": "weaviate"}}, "weaviateUrl"),
        ({"knowledge": {"operator": {"ports": {"metrics": 8080}}}}, "must differ"),
    ],
)
def test_chart_refuses_settings_that_cannot_work(
    chart: helm.Chart, layer: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=message):
        render(chart, ENABLED, layer)


# ------------------------------------------------------------------------------- Deployment


def test_exactly_one_operator_replica_recreated_on_update(chart: helm.Chart) -> None:
    manifests = render(chart, CREDENTIALS, ENABLED)
    deployments = [m for m in knowledge_objects(manifests) if m["kind"] == "Deployment"]
    assert len(deployments) == 1
    [deployment] = deployments
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "HorizontalPodAutoscaler" not in kinds(knowledge_objects(manifests))
    assert "PodDisruptionBudget" not in kinds(knowledge_objects(manifests))
    main = container(deployment)
    assert "command" not in main  # the image's ENTRYPOINT ["cienty"]
    assert main["args"] == ["knowledge-operator"]
    assert container(operator(render(chart, every_option())))["args"] == [
        "knowledge-operator",
        "--verbose",
    ]


def test_liveness_on_healthz_and_the_metrics_port(chart: helm.Chart) -> None:
    layer = {"knowledge": {"operator": {"ports": {"metrics": 9191, "health": 8181}}}}
    manifests = render(chart, ENABLED, layer)
    main = container(operator(manifests))
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"metrics": 9191, "health": 8181}
    probe = main["livenessProbe"]
    assert probe["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "readinessProbe" not in main  # Kopf: readiness makes no sense for an operator
    config = config_data(manifests)
    assert config["CIENTY_METRICS_PORT"] == "9191"
    assert config["CIENTY_LIVENESS_PORT"] == "8181"
    defaults = OperatorSettings.model_fields
    default_ports = chart.values["knowledge"]["operator"]["ports"]
    assert default_ports == {
        "metrics": defaults["metrics_port"].default,
        "health": defaults["liveness_port"].default,
    }


def test_pod_runs_as_non_root_with_a_read_only_root(chart: helm.Chart) -> None:
    deployment = operator(render(chart, ENABLED))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is True  # the operator calls the API
    security = container(deployment)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    resources = container(deployment)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


# ---------------------------------------------------------------------------------------- RBAC


def rbac_file() -> list[Manifest]:
    docs = yaml.safe_load_all(RBAC_FILE.read_text(encoding="utf-8"))
    return [doc for doc in docs if doc]


def reference_rules() -> list[dict[str, Any]]:
    [role] = [m for m in rbac_file() if m["kind"] == "ClusterRole"]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def test_cluster_role_rules_equal_the_operators_rbac_file(chart: helm.Chart) -> None:
    manifests = render(chart, ENABLED)
    role = one(manifests, "ClusterRole")
    assert role["rules"] == reference_rules()
    binding = one(manifests, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    service_account = operator(manifests)["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}
    ]
    assert one(manifests, "ServiceAccount", name=service_account)["metadata"]["namespace"] == (
        NAMESPACE
    )
    assert "Role" not in kinds(manifests)
    assert "RoleBinding" not in kinds(manifests)


def test_watch_namespaces_switch_to_roles_in_those_namespaces_only(chart: helm.Chart) -> None:
    watched = ["team-a", "team-b"]
    layer = {"knowledge": {"operator": {"watchNamespaces": watched}}}
    manifests = render(chart, ENABLED, layer)
    assert {"ClusterRole", "ClusterRoleBinding"}.isdisjoint(kinds(manifests))
    # Nothing cluster-wide at all: every object sits in a namespace.
    assert all(m["metadata"].get("namespace") for m in manifests)
    namespaced_rules = [
        rule for rule in reference_rules() if not CLUSTER_SCOPED & set(rule["resources"])
    ]
    assert len(namespaced_rules) == len(reference_rules()) - 2
    service_account = operator(manifests)["spec"]["template"]["spec"]["serviceAccountName"]
    roles = [m for m in manifests if m["kind"] == "Role"]
    bindings = [m for m in manifests if m["kind"] == "RoleBinding"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == watched
    assert sorted(b["metadata"]["namespace"] for b in bindings) == watched
    for role in roles:
        assert role["rules"] == namespaced_rules
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["roleRef"]["name"] == roles[0]["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}
        ]
    config = config_data(manifests)
    assert config["CIENTY_OPERATOR_NAMESPACES"] == "team-a,team-b"
    settings_env = {"CIENTY_OPERATOR_NAMESPACES": config["CIENTY_OPERATOR_NAMESPACES"]}
    assert OperatorSettings(**settings_from(settings_env)).namespaces == watched
    # Jobs run in their source's namespace: its worker ServiceAccount, settings and Secret too.
    for namespace in [NAMESPACE, *watched]:
        for kind in ("ServiceAccount", "ConfigMap", "Secret"):
            assert [
                m
                for m in knowledge_objects(manifests)
                if m["kind"] == kind
                and m["metadata"]["namespace"] == namespace
                and m["metadata"]["name"] != service_account
            ], (kind, namespace)
    assert config_data(manifests, "team-a") == config


def test_cluster_wide_by_default(chart: helm.Chart) -> None:
    config = config_data(render(chart, ENABLED))
    assert config["CIENTY_OPERATOR_NAMESPACES"] == ""
    assert OperatorSettings(**settings_from(config)).namespaces == []


def test_worker_service_account_has_no_api_access(chart: helm.Chart) -> None:
    manifests = render(chart, ENABLED, every_option())
    worker = one(manifests, "ServiceAccount", name="kb-worker")
    assert worker["automountServiceAccountToken"] is False
    assert worker["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/kb"
    }
    bound = [
        subject["name"]
        for m in manifests
        if m["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for subject in m["subjects"]
    ]
    assert bound == ["kb-operator"]
    assert config_data(manifests)["CIENTY_WORKER_SERVICE_ACCOUNT"] == "kb-worker"


# ---------------------------------------------------------------- settings handed to the Jobs


def settings_from(config: dict[str, str]) -> dict[str, Any]:
    """ConfigMap entries as keyword arguments of the operator's settings classes."""
    return {key.removeprefix("CIENTY_").lower(): value for key, value in config.items()}


def test_worker_image_is_the_charts_image(chart: helm.Chart) -> None:
    digest = "sha256:" + "b" * 64
    cases = [
        ({}, "cienty/knowledge:0.1.0"),
        (every_option(), "123456789012.dkr.ecr.sa-east-1.amazonaws.com/cienty/knowledge:abc123"),
        ({"knowledge": {"image": {"digest": digest}}}, f"cienty/knowledge@{digest}"),
        ({"knowledge": {"image": {"tag": f"abc@{digest}"}}}, f"cienty/knowledge:abc@{digest}"),
    ]
    for layer, expected in cases:
        manifests = render(chart, ENABLED, layer)
        main = container(operator(manifests))
        config = config_data(manifests)
        assert main["image"] == expected
        assert config["CIENTY_WORKER_IMAGE"] == main["image"]
        assert config["CIENTY_WORKER_IMAGE_PULL_POLICY"] == main["imagePullPolicy"]


def test_operator_env_comes_from_the_configmap_and_the_secret(chart: helm.Chart) -> None:
    manifests = render(chart, ENABLED)
    env = env_of(operator(manifests))
    configmap = one(manifests, "ConfigMap")
    secret = one(manifests, "Secret")
    assert set(env) == set(configmap["data"]) | SECRET_ENV
    for name in configmap["data"]:
        assert env[name]["valueFrom"]["configMapKeyRef"] == {
            "name": configmap["metadata"]["name"],
            "key": name,
        }
    for name in SECRET_ENV:
        assert "value" not in env[name]
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], name)
    assert env["CIENTY_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["optional"] is False
    assert env["CIENTY_WEAVIATE_API_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert set(configmap["data"]).isdisjoint(SECRET_ENV)
    weaviate = env_of(operator(render(chart, every_option())))
    assert weaviate["CIENTY_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_configmap_keys_are_real_settings_and_parse(chart: helm.Chart) -> None:
    """Every key is read by the operator, the knowledge library or `cienty kb` (log level),
    and the values parse into the real settings classes."""
    for layer in ({}, every_option()):
        config = config_data(render(chart, ENABLED, layer))
        known = set(OperatorSettings.model_fields) | set(KnowledgeSettings.model_fields)
        unknown = {
            key
            for key in config
            if key.removeprefix("CIENTY_").lower() not in known and key != "CIENTY_LOG_LEVEL"
        }
        assert unknown == set()
        kwargs = settings_from(config)
        OperatorSettings(**kwargs)
        KnowledgeSettings(**kwargs)
    settings = OperatorSettings(**settings_from(config))
    assert settings.job_cpu_limit == "4"
    assert settings.job_memory_request == "1Gi"
    assert settings.job_backoff_limit == 4
    assert settings.job_active_deadline_seconds == 7200
    assert settings.resync_check_seconds == 15
    knowledge = KnowledgeSettings(**settings_from(config))
    assert knowledge.vector_backend == "weaviate"
    assert str(knowledge.weaviate_url).startswith("http://weaviate.weaviate.svc")
    assert knowledge.knowledge_collection == "catalogo"
    assert knowledge.embedding_batch_size == 64
    required = {
        "CIENTY_VECTOR_BACKEND",
        "CIENTY_WEAVIATE_URL",
        "CIENTY_EMBEDDING_URL",
        "CIENTY_EMBEDDING_MODEL",
        "CIENTY_KNOWLEDGE_COLLECTION",
    }
    assert required <= set(config)


@pytest.mark.parametrize("watch", [[], ["team-a"]])
def test_a_job_built_from_the_chart_settings_finds_its_objects(
    chart: helm.Chart, watch: list[str]
) -> None:
    """The operator's own build_job, fed the chart's ConfigMap: the Job it creates in the
    source's namespace references a worker ServiceAccount, ConfigMap and Secret that the chart
    rendered there, runs the chart's image as the image's user, and validates strictly."""
    layer = {"knowledge": {"operator": {"watchNamespaces": watch}}}
    manifests = render(chart, ENABLED, layer)
    source_namespace = watch[0] if watch else NAMESPACE
    settings = OperatorSettings(**settings_from(config_data(manifests)))
    body = {
        "metadata": {"name": "faq", "namespace": source_namespace, "generation": 1, "uid": "u"},
        "spec": {"source": {"inline": {"documents": []}}, "collection": "cienty_knowledge"},
    }
    job = build_job(body, 1, settings)
    validate_strict(job, KUBE_VERSIONS[0])
    pod = job["spec"]["template"]["spec"]
    objects = {
        (m["kind"], m["metadata"]["name"])
        for m in knowledge_objects(manifests)
        if m["metadata"].get("namespace") == source_namespace
    }
    assert ("ServiceAccount", pod["serviceAccountName"]) in objects
    [ingest] = pod["containers"]
    [config_ref, secret_ref] = ingest["envFrom"]
    assert ("ConfigMap", config_ref["configMapRef"]["name"]) in objects
    assert ("Secret", secret_ref["secretRef"]["name"]) in objects
    assert ingest["image"] == container(operator(manifests))["image"]
    security = chart.values["knowledge"]["podSecurityContext"]
    assert pod["securityContext"]["runAsUser"] == security["runAsUser"]
    assert pod["securityContext"]["runAsGroup"] == security["runAsGroup"]
    # The Job's pods are not the operator's: neither the Deployment nor its Service select them.
    selector = operator(manifests)["spec"]["selector"]["matchLabels"]
    assert not selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()


# ------------------------------------------------------------------------------------ Secrets


def test_secret_values_live_only_in_the_secret(chart: helm.Chart) -> None:
    manifests = render(chart, CREDENTIALS, every_option())
    secret = one(manifests, "Secret")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        "CIENTY_DATABASE_URL": KB_DATABASE_URL,
        "CIENTY_WEAVIATE_API_KEY": WEAVIATE_API_KEY,
    }
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        text = yaml.safe_dump(manifest)
        for value in (KB_DATABASE_URL, "kn0wledge-pw", WEAVIATE_API_KEY):
            assert value not in text, manifest["kind"]
    assert KB_DATABASE_URL not in notes(chart, CREDENTIALS, every_option())


def test_empty_secret_values_leave_their_keys_out_and_notes_warn(chart: helm.Chart) -> None:
    manifests = render(chart, {"knowledge": {"enabled": True}})
    assert one(manifests, "Secret")["data"] == {}
    assert "knowledge.secrets.databaseUrl is empty" in notes(
        chart, {"knowledge": {"enabled": True}}
    )
    assert "WARNING" not in notes(chart, CREDENTIALS, ENABLED)


def test_existing_secret_switches_the_secret_source(chart: helm.Chart) -> None:
    existing = {"knowledge": {"secrets": {"existingSecret": "knowledge-credentials"}}}
    watch = {"knowledge": {"operator": {"watchNamespaces": ["team-a"]}}}
    manifests = render(chart, ENABLED, existing, watch)
    assert [m for m in knowledge_objects(manifests) if m["kind"] == "Secret"] == []
    env = env_of(operator(manifests))
    for name in SECRET_ENV:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "knowledge-credentials"
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    for namespace in (NAMESPACE, "team-a"):
        config = config_data(manifests, namespace)
        assert config["CIENTY_WORKER_ENV_SECRET"] == "knowledge-credentials"
    text = notes(chart, CREDENTIALS, ENABLED, existing)
    assert "knowledge-credentials" in text
    assert "WARNING" not in text


# ------------------------------------------------------------------------------- rolling pods


def checksums(manifests: list[Manifest]) -> dict[str, str]:
    annotations = operator(manifests)["spec"]["template"]["metadata"]["annotations"]
    return {k: v for k, v in annotations.items() if k.startswith("checksum/")}


@pytest.mark.parametrize(
    ("change", "annotation"),
    [
        ({"knowledge": {"collection": "outra"}}, "checksum/config"),
        ({"knowledge": {"embeddingUrl": "http://embed:8000/v1"}}, "checksum/config"),
        ({"knowledge": {"extraEnv": {"CIENTY_RESYNC_CHECK_SECONDS": 5}}}, "checksum/config"),
        ({"knowledge": {"worker": {"backoffLimit": 5}}}, "checksum/config"),
        ({"knowledge": {"secrets": {"weaviateApiKey": "another"}}}, "checksum/secrets"),
        ({"knowledge": {"secrets": {"existingSecret": "kb"}}}, "checksum/secrets"),
    ],
)
def test_configuration_changes_roll_the_operator_pod(
    chart: helm.Chart, change: dict[str, Any], annotation: str
) -> None:
    before = checksums(render(chart, ENABLED))
    assert before == checksums(render(chart, ENABLED))  # deterministic
    after = checksums(render(chart, ENABLED, change))
    assert after[annotation] != before[annotation]
    if annotation == "checksum/config":
        # The checksum covers exactly what the ConfigMap holds.
        changed = config_data(render(chart, ENABLED, change))
        assert changed != config_data(render(chart, ENABLED))


# ------------------------------------------------------------------ metrics Service, monitor


def test_metrics_service_and_optional_service_monitor(chart: helm.Chart) -> None:
    manifests = render(chart, ENABLED)
    assert "ServiceMonitor" not in kinds(knowledge_objects(manifests))
    service = one(manifests, "Service")
    pod_labels = operator(manifests)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("metrics", 9090, "metrics")
    monitored = render(chart, every_option())
    monitor = one(monitored, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        one(monitored, "Service")["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")


# ------------------------------------------------------------------------ labels, disabling


def test_every_knowledge_object_carries_the_standard_labels(chart: helm.Chart) -> None:
    for manifest in knowledge_objects(render(chart, CREDENTIALS, every_option())):
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "cienty"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/component"] in ("knowledge", "knowledge-operator")
        assert labels["app.kubernetes.io/part-of"] == "cienty"
        assert labels["team"] == "platform"


def test_disabled_renders_nothing_of_the_component(chart: helm.Chart) -> None:
    # A fixed service token: commerce's Secret is otherwise random on every render.
    base = merge(CREDENTIALS, {"commerce": {"secrets": {"serviceToken": "t" * 32}}})
    everything = merge(base, every_option(), {"knowledge": {"enabled": False}})
    manifests = render(chart, everything)
    assert knowledge_objects(manifests) == []
    assert "knowledge" not in notes(chart, everything)
    # Enabling it adds its objects and leaves everything else as it was.
    enabled = render(chart, base, every_option())
    assert knowledge_objects(enabled)
    assert [m for m in enabled if not is_knowledge(m)] == manifests


def test_component_can_run_without_commerce(chart: helm.Chart) -> None:
    manifests = render(chart, ENABLED, {"commerce": {"enabled": False}})
    assert manifests == knowledge_objects(manifests)
    assert "commerce" not in notes(chart, ENABLED, {"commerce": {"enabled": False}})


# --------------------------------------------------------------------------------------- CRD


def test_crd_is_an_exact_copy_of_the_reference() -> None:
    reference = ROOT / "k8s" / "crds" / CRD_NAME
    copy = CHART / "crds" / CRD_NAME
    assert copy.read_bytes() == reference.read_bytes()


def test_chart_ships_the_crd_and_notes_say_how_to_upgrade_it(chart: helm.Chart) -> None:
    crds = chart.crds
    assert [Path(crd["filename"]).name for crd in crds] == [CRD_NAME]
    [doc] = [d for d in yaml.safe_load_all(crds[0]["data"]) if d]
    assert doc["kind"] == "CustomResourceDefinition"
    validate_strict(doc, KUBE_VERSIONS[0])
    text = notes(chart, CREDENTIALS, ENABLED)
    assert f"kubectl apply -f charts/cienty/crds/{CRD_NAME}" in text
    assert "never upgrades" in text
    assert "never upgrades" in (CHART / "values.yaml").read_text(encoding="utf-8")
    # The CRD's group is the one the RBAC rules grant.
    groups = {group for rule in reference_rules() for group in rule["apiGroups"]}
    assert doc["spec"]["group"] in groups


# -------------------------------------------------------------------------------- Dockerfile


def pins(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name.strip().lower(): version.strip() for name, version in pairs}


def test_dockerfile_installs_the_pinned_cpu_torch_and_the_three_distributions() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    torch = pins(ROOT / "requirements" / "constraints.txt")["torch"]
    assert torch.endswith("+cpu")
    assert torch == pins(ROOT / "requirements" / "dev.txt")["torch"]
    assert re.findall(r"torch==(\S+)", dockerfile) == [torch]
    assert "https://download.pytorch.org/whl/cpu" in dockerfile
    assert "-c requirements/constraints.txt" in dockerfile
    assert "COPY requirements/constraints.txt requirements/constraints.txt" in dockerfile
    wheel = re.search(r"-c requirements/constraints.txt\s*\\?\s*(.+)$", dockerfile, re.M)
    assert wheel is not None
    paths = wheel.group(1).split()
    assert paths == ["./libs/kit", "./libs/knowledge", "./operators/knowledge"]
    names = []
    for path in paths:
        assert re.search(rf"^COPY {path[2:]}/ {path[2:]}/$", dockerfile, re.M)
        project = (ROOT / path / "pyproject.toml").read_text(encoding="utf-8")
        name = re.search(r'^name = "([^"]+)"', project, re.M)
        assert name is not None
        names.append(name.group(1))
    # The runtime stage installs exactly these, offline, from the build stage's wheels.
    install = re.search(
        r"pip install --no-index --find-links /wheels\s*\\?\s*(.+)$", dockerfile, re.M
    )
    assert install is not None
    assert install.group(1).split() == names
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 2  # build and runtime


def test_dockerfile_user_entrypoint_ports_and_offline_model(chart: helm.Chart) -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    security = chart.values["knowledge"]["securityContext"]
    assert re.search(rf"^USER {security['runAsUser']}:{security['runAsGroup']}$", dockerfile, re.M)
    assert security == chart.values["commerce"]["securityContext"]
    assert re.search(r'^ENTRYPOINT \["cienty"\]$', dockerfile, re.M)
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M)
    assert cmd is not None
    main = container(operator(render(chart, ENABLED)))
    assert yaml.safe_load(cmd.group(1)) == main["args"]
    assert re.search(r"^\s+HF_HUB_OFFLINE=1\b", dockerfile, re.M)
    ports = chart.values["knowledge"]["operator"]["ports"]
    assert re.search(rf"^EXPOSE {ports['metrics']} {ports['health']}$", dockerfile, re.M)
    # The entry points the operator and the Jobs call come from the installed distributions.
    operator_project = (ROOT / "operators" / "knowledge" / "pyproject.toml").read_text()
    assert 'knowledge-operator = "cienty_knowledge_operator.cli:operator"' in operator_project
    knowledge_project = (ROOT / "libs" / "knowledge" / "pyproject.toml").read_text()
    assert 'kb = "cienty_knowledge.cli:kb"' in knowledge_project


# ---------------------------------------------------------------------------------- skaffold


def skaffold() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text(encoding="utf-8"))
    return config


def test_skaffold_builds_the_image_and_wires_it_to_the_chart(chart: helm.Chart) -> None:
    config = skaffold()
    [artifact] = [a for a in config["build"]["artifacts"] if a["image"] == "cienty/knowledge"]
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).resolve() == DOCKERFILE
    assert artifact["image"] == chart.values["knowledge"]["image"]["repository"]
    [release] = config["deploy"]["helm"]["releases"]
    sanitized = re.sub(r"[/.:-]", "_", artifact["image"])
    templates = release["setValueTemplates"]
    assert templates["knowledge.image.repository"] == f"{{{{.IMAGE_REPO_{sanitized}}}}}"
    assert templates["knowledge.image.tag"] == (
        f"{{{{.IMAGE_TAG_{sanitized}}}}}@{{{{.IMAGE_DIGEST_{sanitized}}}}}"
    )

    # What `skaffold run` installs: --set values, then the image wiring as skaffold fills it.
    values: dict[str, Any] = {}
    for key, value in release["setValues"].items():
        values = merge(values, helm.parse_set_string(f"{key}={value}"))
    digest = "sha256:" + "c" * 64
    values = merge(
        values,
        helm.parse_set_string(f"knowledge.image.repository=ecr.example/{artifact['image']}"),
        helm.parse_set_string(f"knowledge.image.tag=abc@{digest}"),
    )
    assert values["knowledge"]["enabled"] is True
    chart.validate_schema(chart.merge_values(values))
    manifests = render(chart, values, name=release["name"], namespace=release["namespace"])
    image = f"ecr.example/cienty/knowledge:abc@{digest}"
    assert container(operator(manifests))["image"] == image
    config_map = one(manifests, "ConfigMap", namespace=release["namespace"])
    assert config_map["data"]["CIENTY_WORKER_IMAGE"] == image
    assert (
        config_map["data"]["CIENTY_WORKER_ENV_SECRET"]
        == (release["setValues"]["knowledge.secrets.existingSecret"])
    )
    for manifest in manifests:
        validate_strict(manifest, KUBE_VERSIONS[0])


def test_skaffold_dev_profile_runs_the_operator_on_the_dev_database(chart: helm.Chart) -> None:
    config = skaffold()
    [profile] = [p for p in config["profiles"] if p["name"] == "dev"]
    patched = {p["path"]: p["value"] for p in profile["patches"] if p["op"] == "add"}
    [values_file] = patched["/deploy/helm/releases/0/valuesFiles"]
    dev_values = yaml.safe_load((ROOT / values_file).read_text(encoding="utf-8"))
    knowledge = dev_values["knowledge"]
    assert knowledge["enabled"] is True
    namespace = config["deploy"]["helm"]["releases"][0]["namespace"]
    assert knowledge["operator"]["watchNamespaces"] == [namespace]
    # pgvector in the dev PostgreSQL, the same server commerce uses there.
    assert knowledge.get("vectorBackend", "pgvector") == "pgvector"
    assert knowledge["secrets"]["databaseUrl"] == dev_values["commerce"]["secrets"]["databaseUrl"]
    manifests = render(chart, dev_values, namespace=namespace)
    assert {"ClusterRole", "ClusterRoleBinding"}.isdisjoint(kinds(manifests))
    for manifest in knowledge_objects(manifests):
        validate_strict(manifest, KUBE_VERSIONS[0])
