"""The umbrella chart charts/cienty, rendered offline by Helm's own Go SDK (helm-python-sdk) and
checked against the Kubernetes API schemas (kubernetes-validate, strict: unknown fields fail).

Also checks that skaffold.yaml, the Dockerfile, the local-cluster values and manifests, and the
EKS cluster config agree with the chart.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cienty"
RELEASE = "cienty"
NAMESPACE = "platform"
# The oldest Kubernetes minor the platform targets on EKS, and the newest the validator knows.
KUBE_VERSIONS = ("1.33", kubernetes_validate.latest_version())

DATABASE_URL = "postgresql://commerce:s3cr3t-pw@db.example.internal:5432/commerce"
REDIS_URL = "redis://cache.example.internal:6379/0"
SERVICE_TOKEN = "a-service-token-of-sufficient-length"
# Values a real install provides; the chart's defaults render without them.
CREDENTIALS: dict[str, Any] = {
    "commerce": {"secrets": {"databaseUrl": DATABASE_URL, "redisUrl": REDIS_URL}}
}

CONFIG_ENV = {
    "CIENTY_ENVIRONMENT",
    "CIENTY_GRPC_PORT",
    "CIENTY_METRICS_PORT",
    "CIENTY_LOG_LEVEL",
    "CIENTY_LOG_FORMAT",
    "CIENTY_SHUTDOWN_GRACE_SECONDS",
}
SECRET_ENV = {"CIENTY_SERVICE_TOKEN", "CIENTY_DATABASE_URL", "CIENTY_REDIS_URL"}

Manifest = dict[str, Any]

# conversations is on by default; the tests here and in test_knowledge_chart.py look at the other
# components, so render() and notes() turn it off unless a layer turns it back on.
# test_conversations_chart.py renders it, defaults included.
WITHOUT_CONVERSATIONS: dict[str, Any] = {"conversations": {"enabled": False}}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merges value layers, later ones winning."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
    return out


def render(
    chart: helm.Chart,
    *layers: dict[str, Any],
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Manifest]:
    rendered = chart.render(merge(WITHOUT_CONVERSATIONS, *layers), name=name, namespace=namespace)
    manifests: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith(".yaml"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def notes(chart: helm.Chart, *layers: dict[str, Any]) -> str:
    rendered = chart.render(
        merge(WITHOUT_CONVERSATIONS, *layers), name=RELEASE, namespace=NAMESPACE
    )
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def only(manifests: list[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(manifests: list[Manifest]) -> list[str]:
    return sorted(m["kind"] for m in manifests)


def container(workload: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(workload: Manifest) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(workload)["env"]}


def validate_strict(manifest: Manifest, version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


# ------------------------------------------------------------------------------ lint, schema


def test_chart_lints_without_warnings() -> None:
    report = helm.lint(CHART, strict=True, namespace=NAMESPACE, kube_version="v1.33.0")
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_chart_lints_with_credentials_and_every_option(chart: helm.Chart) -> None:
    values = merge(CREDENTIALS, every_option())
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_defaults_satisfy_the_schema(chart: helm.Chart) -> None:
    chart.validate_schema(chart.merge_values({}))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"commerce": {"replicaCount": "two"}}, id="replicaCount-string"),
        pytest.param({"commerce": {"replicaCount": -1}}, id="replicaCount-negative"),
        pytest.param({"commerce": {"ports": {"grpc": 70000}}}, id="port-out-of-range"),
        pytest.param({"commerce": {"environment": "staging"}}, id="unknown-environment"),
        pytest.param({"commerce": {"logLevel": "TRACE"}}, id="unknown-log-level"),
        pytest.param({"comerce": {"enabled": True}}, id="misspelt-component"),
        pytest.param({"commerce": {"replicas": 3}}, id="unknown-commerce-key"),
        pytest.param({"commerce": {"image": {"pullPolicy": "Sometimes"}}}, id="pull-policy"),
        pytest.param({"commerce": {"image": {"digest": "latest"}}}, id="digest-not-sha256"),
        pytest.param(
            {"commerce": {"secrets": {"databaseUrl": "mysql://db/commerce"}}}, id="not-postgres"
        ),
        pytest.param({"commerce": {"secrets": {"redisUrl": "http://cache"}}}, id="not-redis"),
        pytest.param({"commerce": {"secrets": {"serviceToken": "short"}}}, id="short-token"),
        pytest.param(
            {"commerce": {"extraEnv": {"CIENTY_DATABASE_URL": DATABASE_URL}}},
            id="secret-in-configmap",
        ),
        pytest.param({"commerce": {"extraEnv": {"HOME": "/tmp"}}}, id="extra-env-not-cienty"),
        pytest.param(
            {"commerce": {"autoscaling": {"targetCPUUtilizationPercentage": 0}}}, id="hpa-target"
        ),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(chart.merge_values(bad))
    # helm install/upgrade/template apply the same schema before rendering anything.
    with pytest.raises(helm.HelmValuesError):
        render(chart, bad)


def test_schema_accepts_a_full_production_configuration(chart: helm.Chart) -> None:
    chart.validate_schema(chart.merge_values(merge(CREDENTIALS, every_option())))


# ---------------------------------------------------------------------- valid Kubernetes objects


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_default_values_render_valid_manifests(chart: helm.Chart, version: str) -> None:
    manifests = render(chart)
    assert kinds(manifests) == [
        "ConfigMap",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
    ]
    for manifest in manifests:
        validate_strict(manifest, version)
        assert manifest["metadata"]["namespace"] == NAMESPACE


def every_option() -> dict[str, Any]:
    return {
        "global": {
            "imageRegistry": "123456789012.dkr.ecr.sa-east-1.amazonaws.com",
            "imagePullSecrets": ["regcred"],
            "commonLabels": {"team": "platform"},
        },
        "commerce": {
            "extraEnv": {"CIENTY_COMMERCE_PAGE_SIZE": 50},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:r"}},
            "service": {"annotations": {"example.com/owner": "platform"}},
            "readinessProbe": {"service": "cienty.commerce.v1.OrderService"},
            "podAnnotations": {"example.com/scrape": "true"},
            "podLabels": {"example.com/tier": "backend"},
            "priorityClassName": "cienty-high",
            "nodeSelector": {"cienty.io/pool": "general"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {
                                    "matchLabels": {"app.kubernetes.io/component": "commerce"}
                                },
                            },
                        }
                    ]
                }
            },
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "commerce"}},
                }
            ],
            "migrate": {"serviceAccountName": "commerce-migrator"},
            "pdb": {"minAvailable": "50%"},
            "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        },
    }


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_option_renders_valid_manifests(chart: helm.Chart, version: str) -> None:
    manifests = render(chart, CREDENTIALS, every_option())
    assert "HorizontalPodAutoscaler" in kinds(manifests)
    assert "ServiceMonitor" in kinds(manifests)
    for manifest in manifests:
        if manifest["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # a CRD of the Prometheus Operator: checked in test_service_monitor
        validate_strict(manifest, version)
        assert manifest["metadata"]["labels"]["team"] == "platform"


def test_strict_validation_catches_a_misplaced_field() -> None:
    """Guards the guard: the validator really is strict."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 1, "appProtocl": "grpc"}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(service, KUBE_VERSIONS[0])


# --------------------------------------------------------------------------------- Deployment


def test_probes_are_native_grpc_on_the_grpc_port(chart: helm.Chart) -> None:
    deployment = only(render(chart), "Deployment")
    server = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = server[probe]
        assert set(spec) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert spec["grpc"]["port"] == ports["grpc"], probe


def test_grpc_port_value_moves_probes_env_and_service_together(chart: helm.Chart) -> None:
    manifests = render(chart, {"commerce": {"ports": {"grpc": 6000, "metrics": 9100}}})
    server = container(only(manifests, "Deployment"))
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {
        "grpc": 6000,
        "metrics": 9100,
    }
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["grpc"]["port"] == 6000
    config = only(manifests, "ConfigMap")["data"]
    assert config["CIENTY_GRPC_PORT"] == "6000"
    assert config["CIENTY_METRICS_PORT"] == "9100"
    service_ports = {p["name"]: p for p in only(manifests, "Service")["spec"]["ports"]}
    assert service_ports["grpc"]["port"] == 6000
    assert service_ports["metrics"]["port"] == 9100


def test_readiness_probe_can_name_a_health_service(chart: helm.Chart) -> None:
    manifests = render(chart, {"commerce": {"readinessProbe": {"service": "readiness"}}})
    server = container(only(manifests, "Deployment"))
    assert server["readinessProbe"]["grpc"]["service"] == "readiness"
    assert "service" not in server["livenessProbe"]["grpc"]


def test_pod_runs_as_non_root_with_a_read_only_root(chart: helm.Chart) -> None:
    pod = only(render(chart), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container({"spec": {"template": {"spec": pod}}})["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # With a read-only root, /tmp is the one writable place.
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_container_requests_resources(chart: helm.Chart) -> None:
    resources = container(only(render(chart), "Deployment"))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_server_runs_serve_with_the_image_entrypoint(chart: helm.Chart) -> None:
    server = container(only(render(chart), "Deployment"))
    assert "command" not in server  # keeps the image's ENTRYPOINT ["cienty"]
    assert server["args"] == ["commerce", "serve"]
    assert server["image"] == "cienty/commerce:0.1.0"


def test_environment_comes_from_the_configmap_and_the_secret(chart: helm.Chart) -> None:
    manifests = render(chart, CREDENTIALS)
    deployment = only(manifests, "Deployment")
    env = env_of(deployment)
    assert set(env) == CONFIG_ENV | SECRET_ENV
    config = only(manifests, "ConfigMap")
    for name in CONFIG_ENV:
        ref = env[name]["valueFrom"]["configMapKeyRef"]
        assert ref["name"] == config["metadata"]["name"]
        assert ref["key"] in config["data"]
    assert config["data"]["CIENTY_ENVIRONMENT"] == "production"
    assert config["data"]["CIENTY_SHUTDOWN_GRACE_SECONDS"] == "20"
    secret = only(manifests, "Secret")
    for name in SECRET_ENV:
        assert "value" not in env[name]
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret["metadata"]["name"], "key": name}
        assert name in secret["data"]
    assert set(config["data"]).isdisjoint(SECRET_ENV)


def test_no_secret_value_is_written_outside_the_secret(chart: helm.Chart) -> None:
    values = merge(CREDENTIALS, {"commerce": {"secrets": {"serviceToken": SERVICE_TOKEN}}})
    manifests = render(chart, values)
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        text = yaml.safe_dump(manifest)
        for secret in (DATABASE_URL, "s3cr3t-pw", REDIS_URL, SERVICE_TOKEN):
            assert secret not in text, manifest["kind"]


def test_extra_env_lands_in_the_configmap(chart: helm.Chart) -> None:
    manifests = render(chart, {"commerce": {"extraEnv": {"CIENTY_COMMERCE_PAGE_SIZE": 50}}})
    assert only(manifests, "ConfigMap")["data"]["CIENTY_COMMERCE_PAGE_SIZE"] == "50"
    env = env_of(only(manifests, "Deployment"))
    assert env["CIENTY_COMMERCE_PAGE_SIZE"]["valueFrom"]["configMapKeyRef"]["key"] == (
        "CIENTY_COMMERCE_PAGE_SIZE"
    )


def test_pods_roll_when_their_configuration_changes(chart: helm.Chart) -> None:
    def checksums(values: dict[str, Any]) -> dict[str, str]:
        pod = only(render(chart, values), "Deployment")["spec"]["template"]
        annotations: dict[str, str] = pod["metadata"]["annotations"]
        return annotations

    base = checksums(CREDENTIALS)
    debug = checksums(merge(CREDENTIALS, {"commerce": {"logLevel": "DEBUG"}}))
    assert debug["checksum/config"] != base["checksum/config"]
    moved = merge(CREDENTIALS, {"commerce": {"secrets": {"redisUrl": "redis://other:6379/0"}}})
    assert checksums(moved)["checksum/secrets"] != base["checksum/secrets"]


def test_termination_grace_outlasts_the_drain(chart: helm.Chart) -> None:
    pod = only(render(chart), "Deployment")["spec"]["template"]["spec"]
    server = pod["containers"][0]
    sleep = server["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    drain = int(only(render(chart), "ConfigMap")["data"]["CIENTY_SHUTDOWN_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > drain + int(sleep[1])


def test_chart_refuses_a_grace_period_shorter_than_the_drain(chart: helm.Chart) -> None:
    short = {"commerce": {"terminationGracePeriodSeconds": 25}}  # 5 s sleep + 20 s drain
    with pytest.raises(helm.HelmRenderError, match="terminationGracePeriodSeconds"):
        render(chart, short)


def test_hpa_replaces_the_fixed_replica_count(chart: helm.Chart) -> None:
    fixed = only(render(chart, {"commerce": {"replicaCount": 3}}), "Deployment")
    assert fixed["spec"]["replicas"] == 3
    assert "HorizontalPodAutoscaler" not in kinds(render(chart))

    scaled = render(chart, {"commerce": {"autoscaling": {"enabled": True, "maxReplicas": 7}}})
    assert "replicas" not in only(scaled, "Deployment")["spec"]
    hpa = only(scaled, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": only(scaled, "Deployment")["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 7)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_image_reference_follows_registry_tag_and_digest(chart: helm.Chart) -> None:
    def image(values: dict[str, Any]) -> str:
        reference: str = container(only(render(chart, values), "Deployment"))["image"]
        return reference

    registry = "123456789012.dkr.ecr.sa-east-1.amazonaws.com"
    assert image({"global": {"imageRegistry": registry, "imageTag": "v2"}}) == (
        f"{registry}/cienty/commerce:v2"
    )
    assert image({"global": {"imageTag": "v2"}, "commerce": {"image": {"tag": "v3"}}}) == (
        "cienty/commerce:v3"
    )
    digest = "sha256:" + "a" * 64
    assert image({"commerce": {"image": {"digest": digest}}}) == f"cienty/commerce@{digest}"
    # skaffold's helm strategy passes "tag@digest" as the tag.
    assert image({"commerce": {"image": {"tag": f"abc@{digest}"}}}) == (
        f"cienty/commerce:abc@{digest}"
    )


# ------------------------------------------------------------------------- migrate hook Job


def test_migrate_job_is_a_pre_install_and_pre_upgrade_hook(chart: helm.Chart) -> None:
    manifests = render(chart, CREDENTIALS)
    job = only(manifests, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    migrate = container(job)
    assert migrate["args"] == ["commerce", "migrate"]
    assert migrate["image"] == container(only(manifests, "Deployment"))["image"]
    assert migrate["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def test_migrate_job_needs_nothing_that_is_created_after_the_hooks(chart: helm.Chart) -> None:
    """Pre-install hooks run before the release's ordinary objects exist: the Job must not
    reference the ConfigMap or the chart's ServiceAccount, and the chart-created Secret it
    reads must itself be a hook of lower weight."""
    manifests = render(chart, CREDENTIALS)
    job = only(manifests, "Job")
    env = env_of(job)
    assert set(env) >= CONFIG_ENV | SECRET_ENV
    assert all("configMapKeyRef" not in e.get("valueFrom", {}) for e in env.values())
    assert env["CIENTY_ENVIRONMENT"]["value"] == "production"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] != only(manifests, "ServiceAccount")["metadata"]["name"]
    secret = only(manifests, "Secret")
    hook = secret["metadata"]["annotations"]
    assert "pre-install" in hook["helm.sh/hook"]
    assert "pre-upgrade" in hook["helm.sh/hook"]
    weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert int(hook["helm.sh/hook-weight"]) < weight
    for name in SECRET_ENV:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]


def test_migrate_job_pods_are_not_selected_by_the_service(chart: helm.Chart) -> None:
    manifests = render(chart)
    selector = only(manifests, "Service")["spec"]["selector"]
    labels = only(manifests, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()


def test_migrate_job_can_be_disabled(chart: helm.Chart) -> None:
    assert "Job" not in kinds(render(chart, {"commerce": {"migrate": {"enabled": False}}}))


# ---------------------------------------------------------------------------------- Secrets


def test_chart_created_secret_holds_the_given_values(chart: helm.Chart) -> None:
    values = merge(CREDENTIALS, {"commerce": {"secrets": {"serviceToken": SERVICE_TOKEN}}})
    data = only(render(chart, values), "Secret")["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    assert decoded == {
        "CIENTY_SERVICE_TOKEN": SERVICE_TOKEN,
        "CIENTY_DATABASE_URL": DATABASE_URL,
        "CIENTY_REDIS_URL": REDIS_URL,
    }


def test_an_empty_service_token_is_generated(chart: helm.Chart) -> None:
    data = only(render(chart, CREDENTIALS), "Secret")["data"]
    token = base64.b64decode(data["CIENTY_SERVICE_TOKEN"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", token)


def test_missing_urls_leave_the_keys_out_and_notes_warn(chart: helm.Chart) -> None:
    data = only(render(chart), "Secret")["data"]
    assert set(data) == {"CIENTY_SERVICE_TOKEN"}
    assert "WARNING" in notes(chart)
    assert "WARNING" not in notes(chart, CREDENTIALS)


def test_existing_secret_switches_the_secret_source(chart: helm.Chart) -> None:
    existing = {
        "commerce": {
            "secrets": {
                "existingSecret": "commerce-credentials",
                "existingSecretKeys": {"databaseUrl": "rds-url"},
            }
        }
    }
    manifests = render(chart, existing)
    assert "Secret" not in kinds(manifests)
    for workload in (only(manifests, "Deployment"), only(manifests, "Job")):
        env = env_of(workload)
        refs = {name: env[name]["valueFrom"]["secretKeyRef"] for name in SECRET_ENV}
        assert {ref["name"] for ref in refs.values()} == {"commerce-credentials"}
        assert refs["CIENTY_DATABASE_URL"]["key"] == "rds-url"
        assert refs["CIENTY_REDIS_URL"]["key"] == "CIENTY_REDIS_URL"
    assert "commerce-credentials" in notes(chart, existing)
    assert "WARNING" not in notes(chart, existing)


# --------------------------------------------------------------- Service, PDB, ServiceMonitor


def test_service_exposes_grpc_and_metrics(chart: helm.Chart) -> None:
    manifests = render(chart)
    service = only(manifests, "Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"]["appProtocol"] == "grpc"
    assert ports["grpc"]["targetPort"] == "grpc"
    assert ports["metrics"]["targetPort"] == "metrics"
    assert service["spec"]["type"] == "ClusterIP"
    pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_pdb_selects_the_commerce_pods(chart: helm.Chart) -> None:
    manifests = render(chart)
    pdb = only(manifests, "PodDisruptionBudget")
    deployment = only(manifests, "Deployment")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1
    with_min = only(
        render(chart, {"commerce": {"pdb": {"minAvailable": 1}}}), "PodDisruptionBudget"
    )
    assert with_min["spec"] == {"minAvailable": 1, "selector": pdb["spec"]["selector"]}
    disabled = render(chart, {"commerce": {"pdb": {"enabled": False}}})
    assert "PodDisruptionBudget" not in kinds(disabled)


def test_service_monitor_only_when_enabled(chart: helm.Chart) -> None:
    assert "ServiceMonitor" not in kinds(render(chart))
    enabled = {"commerce": {"metrics": {"serviceMonitor": {"enabled": True}}}}
    manifests = render(chart, enabled)
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"


# ------------------------------------------------------------------------------------ labels


def test_every_object_carries_the_standard_labels(chart: helm.Chart) -> None:
    manifests = render(chart, CREDENTIALS, every_option())
    for manifest in manifests:
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "cienty"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/component"] == "commerce"
        assert labels["app.kubernetes.io/part-of"] == "cienty"
        assert labels["helm.sh/chart"] == "cienty-0.4.0"
        assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_selectors_do_not_use_the_version(chart: helm.Chart) -> None:
    selector = only(render(chart), "Deployment")["spec"]["selector"]["matchLabels"]
    assert set(selector) == {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/component",
    }


def test_commerce_disabled_renders_no_commerce_object(chart: helm.Chart) -> None:
    manifests = render(chart, {"commerce": {"enabled": False}})
    commerce = [
        m
        for m in manifests
        if m["metadata"]["labels"].get("app.kubernetes.io/component", "").startswith("commerce")
        or "commerce" in m["metadata"]["name"]
    ]
    assert commerce == []
    assert "commerce" not in notes(chart, {"commerce": {"enabled": False}})


# -------------------------------------------------------- skaffold, Dockerfile, dev cluster, EKS


def test_skaffold_builds_and_deploys_what_the_chart_expects(chart: helm.Chart) -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text(encoding="utf-8"))
    assert config["apiVersion"] == "skaffold/v4beta14"
    [artifact] = [a for a in config["build"]["artifacts"] if a["image"] == "cienty/commerce"]
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    [release] = config["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]).resolve() == CHART
    sanitized = re.sub(r"[/.:-]", "_", artifact["image"])
    templates = release["setValueTemplates"]
    assert templates["commerce.image.repository"] == f"{{{{.IMAGE_REPO_{sanitized}}}}}"
    assert f"IMAGE_TAG_{sanitized}" in templates["commerce.image.tag"]
    defaults = chart.values["commerce"]["image"]
    assert set(defaults) >= {"repository", "tag"}

    manifests = render(chart, name=release["name"], namespace=release["namespace"])
    service = only(manifests, "Service")
    [forward] = [
        f for f in config["portForward"] if f["resourceName"] == service["metadata"]["name"]
    ]
    assert (forward["resourceType"], forward["resourceName"], forward["namespace"]) == (
        "service",
        service["metadata"]["name"],
        release["namespace"],
    )
    grpc = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
    assert forward["port"] == grpc

    # Outside the dev profile the release reads an existing Secret, like k8s/README.md says.
    existing = release["setValues"]["commerce.secrets.existingSecret"]
    assert existing in (ROOT / "k8s" / "README.md").read_text(encoding="utf-8")
    chart.validate_schema(
        chart.merge_values({"commerce": {"secrets": {"existingSecret": existing}}})
    )


def test_dev_profile_values_and_backing_services_fit_together(chart: helm.Chart) -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text(encoding="utf-8"))
    [profile] = [p for p in config["profiles"] if p["name"] == "dev"]
    patched = {p["path"]: p["value"] for p in profile["patches"] if p["op"] == "add"}
    removed = {p["path"] for p in profile["patches"] if p["op"] == "remove"}
    # --set beats values files: the base release's existingSecret must not reach the dev loop.
    assert "setValues" in config["deploy"]["helm"]["releases"][0]
    assert "/deploy/helm/releases/0/setValues" in removed
    [values_file] = patched["/deploy/helm/releases/0/valuesFiles"]
    dev_values = yaml.safe_load((ROOT / values_file).read_text(encoding="utf-8"))
    chart.validate_schema(chart.merge_values(dev_values))

    [hook] = patched["/deploy/helm/hooks"]["before"]
    script = " ".join(hook["host"]["command"])
    manifest_file = re.search(r"-f (\S+)", script)
    assert manifest_file is not None
    backing = [
        doc
        for doc in yaml.safe_load_all((ROOT / manifest_file.group(1)).read_text(encoding="utf-8"))
        if doc
    ]
    for manifest in backing:
        validate_strict(manifest, KUBE_VERSIONS[0])
    namespace = config["deploy"]["helm"]["releases"][0]["namespace"]
    services = {
        m["metadata"]["name"]: m["spec"]["ports"][0]["port"]
        for m in backing
        if m["kind"] == "Service"
    }
    assert all(m["metadata"].get("namespace", namespace) == namespace for m in backing)
    secrets = dev_values["commerce"]["secrets"]
    assert f"@postgres:{services['postgres']}/" in secrets["databaseUrl"]
    assert f"//redis:{services['redis']}/" in secrets["redisUrl"]
    manifests = render(chart, dev_values)
    for manifest in manifests:
        validate_strict(manifest, KUBE_VERSIONS[0])


def test_dockerfile_matches_the_generators_and_the_pod_user(chart: helm.Chart) -> None:
    dockerfile = (ROOT / "services" / "commerce" / "Dockerfile").read_text(encoding="utf-8")
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    for tool in ("grpcio-tools", "mypy-protobuf"):
        assert f"{tool}=={pins[tool]}" in dockerfile
    security = chart.values["commerce"]["securityContext"]
    assert re.search(rf"^USER {security['runAsUser']}:{security['runAsGroup']}$", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["cienty"\]$', dockerfile, re.M)
    ports = chart.values["commerce"]["ports"]
    assert re.search(rf"^EXPOSE {ports['grpc']} {ports['metrics']}$", dockerfile, re.M)


# The GPU each EC2 instance family carries, as Ray reports it in `accelerator_type`.
GPU_OF_FAMILY = {"g5": "A10G", "g6": "L4", "g6e": "L40S", "p4de": "A100", "p5": "H100"}


def test_eks_gpu_nodes_sit_behind_a_taint() -> None:
    cluster = yaml.safe_load((ROOT / "k8s" / "eks" / "cluster.yaml").read_text(encoding="utf-8"))
    assert (cluster["apiVersion"], cluster["kind"]) == ("eksctl.io/v1alpha5", "ClusterConfig")
    groups = {g["name"]: g for g in cluster["managedNodeGroups"]}
    for name in ("gpu", "gpu-70b"):
        gpu = groups[name]
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in gpu["taints"]
        assert gpu["minSize"] == 0  # an unused profile costs nothing
        assert "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" in gpu["tags"]
    assert "taints" not in groups["general"]
    assert groups["general"]["minSize"] >= 2


@pytest.mark.parametrize(("profile", "group"), [("gpu-8b", "gpu"), ("gpu-70b", "gpu-70b")])
def test_each_gpu_profile_has_nodes_with_its_accelerator(profile: str, group: str) -> None:
    cluster = yaml.safe_load((ROOT / "k8s" / "eks" / "cluster.yaml").read_text(encoding="utf-8"))
    nodes = {g["name"]: g for g in cluster["managedNodeGroups"]}[group]
    gpus_on_nodes = {GPU_OF_FAMILY[t.split(".")[0]] for t in nodes["instanceTypes"]}
    config = yaml.safe_load((ROOT / "models" / "serve" / f"{profile}.yaml").read_text())
    gpus_needed = 0
    for application in config["applications"]:
        for llm_config in application["args"]["llm_configs"]:
            assert llm_config["accelerator_type"] in gpus_on_nodes, (profile, gpus_on_nodes)
            engine = llm_config.get("engine_kwargs", {})
            per_replica = engine.get("tensor_parallel_size", 1) * engine.get(
                "pipeline_parallel_size", 1
            )
            replicas = llm_config["deployment_config"]["autoscaling_config"]["max_replicas"]
            gpus_needed += per_replica * replicas
    tags = nodes["tags"]
    gpus_per_node = int(tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"])
    # Autoscaling to max_replicas must find GPUs to land on.
    assert nodes["maxSize"] * gpus_per_node >= gpus_needed
