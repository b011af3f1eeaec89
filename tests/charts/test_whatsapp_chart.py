"""The whatsapp component of charts/cienty: the webhook and worker Deployments, the webhook's
Service and Ingress, their ConfigMaps and Secret references, the settings they hand to the
gateway (parsed by GatewaySettings itself), the image (services/whatsapp_gateway/Dockerfile) and
skaffold.

Rendered offline with Helm's Go SDK and the helpers of test_chart.py; no cluster and no Docker
engine needed. The component is off by default; ENABLED turns it on with what an install must
provide (the phone number id and the Meta credentials).
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from packaging.requirements import Requirement
from pydantic import AliasChoices

from cienty_whatsapp.settings import (
    DEVELOPMENT_ACCESS_TOKEN,
    DEVELOPMENT_APP_SECRET,
    DEVELOPMENT_VERIFY_TOKEN,
    GatewaySettings,
)
from cienty_whatsapp.simulator.app import DEFAULT_PORT
from cienty_whatsapp.simulator.graph_api import VERSION
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
    validate_strict,
)

# Re-exported: the module-scoped `chart` fixture of test_chart.py, used here by name.
__all__ = ["chart"]

PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "meta-app-secret-0123456789abcdef"
VERIFY_TOKEN = "a-verify-token-we-chose"
ACCESS_TOKEN = "EAAG-system-user-access-token-xyz"
SERVICE_TOKEN = "a-whatsapp-service-token-of-length"
REDIS_URL = "redis://whatsapp-cache.example.internal:6379/2"
META = {"appSecret": APP_SECRET, "verifyToken": VERIFY_TOKEN, "accessToken": ACCESS_TOKEN}
# What an install must provide to turn the component on.
ENABLED: dict[str, Any] = {
    "whatsapp": {
        "enabled": True,
        "meta": {"phoneNumberId": PHONE_NUMBER_ID},
        "secrets": META,
    }
}
# A fixed commerce token: commerce's Secret is otherwise random on every render.
FIXED_COMMERCE_TOKEN: dict[str, Any] = {"commerce": {"secrets": {"serviceToken": "c" * 32}}}
WITHOUT_CONVERSATIONS: dict[str, Any] = {
    "conversations": {"enabled": False},
    "whatsapp": {"conversations": {"addr": "conversations.example.internal:443"}},
}
DOCKERFILE = ROOT / "services" / "whatsapp_gateway" / "Dockerfile"
DOCS = ROOT / "docs" / "whatsapp-deploy.md"
PROTOS = ("commerce", "conversations")
# The three distributions the image installs (their pyproject.toml directories).
DISTRIBUTIONS = ("proto", "libs/kit", "services/whatsapp_gateway")
SECRET_ENV = {
    "CIENTY_WHATSAPP_APP_SECRET",
    "CIENTY_WHATSAPP_VERIFY_TOKEN",
    "CIENTY_WHATSAPP_ACCESS_TOKEN",
    "CIENTY_SERVICE_TOKEN",
    "CIENTY_REDIS_URL",
}


# ------------------------------------------------------------------------------------ helpers


def render_all(
    chart: helm.Chart,
    *layers: dict[str, Any],
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Manifest]:
    rendered = chart.render(merge(*layers), name=name, namespace=namespace)
    manifests: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def notes_all(chart: helm.Chart, *layers: dict[str, Any]) -> str:
    rendered = chart.render(merge(*layers), name=RELEASE, namespace=NAMESPACE)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def component(manifest: Manifest) -> str:
    labels: dict[str, str] = manifest["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component", "")


def ours(manifests: list[Manifest]) -> list[Manifest]:
    return [
        m
        for m in manifests
        if component(m).startswith("whatsapp") or "whatsapp" in m["metadata"]["name"]
    ]


def one(manifests: list[Manifest], kind: str, process: str | None = None) -> Manifest:
    found = [
        m
        for m in ours(manifests)
        if m["kind"] == kind and (process is None or component(m) == f"whatsapp-{process}")
    ]
    assert len(found) == 1, f"expected one whatsapp {kind} {process or ''}, found {len(found)}"
    return found[0]


def webhook(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "Deployment", "webhook")


def worker(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "Deployment", "worker")


def config_data(manifests: list[Manifest], process: str) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap", process)["data"]
    return data


def secret_refs(workload: Manifest) -> dict[str, dict[str, Any]]:
    return {
        name: entry["valueFrom"]["secretKeyRef"]
        for name, entry in env_of(workload).items()
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def decoded(secret: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def by_component(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [m for m in manifests if m["kind"] == kind and component(m) == name]
    return found


def every_option() -> dict[str, Any]:
    scheduling = {
        "podAnnotations": {"example.com/scrape": "true"},
        "podLabels": {"example.com/tier": "edge"},
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
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "cienty"}},
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
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "cienty"}},
            }
        ],
    }
    return {
        "global": {
            "imageRegistry": "123456789012.dkr.ecr.sa-east-1.amazonaws.com",
            "imageTag": "abc123",
            "imagePullSecrets": ["regcred"],
            "commonLabels": {"team": "platform"},
        },
        "whatsapp": {
            "image": {"pullPolicy": "Always"},
            "logLevel": "DEBUG",
            "extraEnv": {"CIENTY_HTTP_HOST": "0.0.0.0", "CIENTY_GRPC_MAX_CONCURRENT_RPCS": 0},
            "meta": {"graphUrl": "https://graph.facebook.com/v24.0"},
            "ports": {"http": 8081, "metrics": 9191},
            "inbound": {
                "partitions": 32,
                "dedupeTtlHours": 240,
                "handleDeadlineSeconds": 50,
                "maxAttempts": 5,
                "retryBaseSeconds": 0.5,
                "retryMaxSeconds": 120,
                "staleMessageHours": 12,
                "floodBurst": 6,
                "floodPerMinute": 12.5,
            },
            "outbound": {"group": "gateway-eu", "paceSeconds": 4, "paceBurst": 2},
            "secrets": {"serviceToken": SERVICE_TOKEN, "redisUrl": REDIS_URL},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:r"}},
            "webhook": {
                "maxBodyBytes": 8 * 1024 * 1024,
                "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
                "pdb": {"minAvailable": "50%"},
                "service": {"annotations": {"example.com/owner": "platform"}},
                "ingress": {
                    "enabled": True,
                    "className": "alb",
                    "host": "whatsapp.cienty.com.br",
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "tls": {"secretName": "whatsapp-cert"},
                },
                **scheduling,
            },
            "worker": {
                "replicaCount": 3,
                "shutdownGraceSeconds": 60,
                "terminationGracePeriodSeconds": 70,
                "media": {
                    "mountPath": "/data/media",
                    "persistence": {
                        "enabled": True,
                        "storageClassName": "efs-sc",
                        "size": "50Gi",
                        "annotations": {"example.com/backup": "daily"},
                    },
                },
                "pdb": {"maxUnavailable": 2},
                **scheduling,
            },
            "networkPolicy": {
                "enabled": True,
                "webhookFrom": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                        }
                    }
                ],
                "metricsFrom": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        }
                    }
                ],
            },
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        },
    }


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CIENTY_* variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("CIENTY_"):
            monkeypatch.delenv(name)
    return monkeypatch


def pod_environment(
    manifests: list[Manifest], process: str, secret_values: dict[str, str]
) -> dict[str, str]:
    """What the process's container environment holds: its ConfigMap's values and, for each
    secret variable, the given value."""
    config = config_data(manifests, process)
    environment: dict[str, str] = {}
    for name, entry in env_of(one(manifests, "Deployment", process)).items():
        source = entry["valueFrom"]
        if "configMapKeyRef" in source:
            environment[name] = config[source["configMapKeyRef"]["key"]]
        else:
            environment[name] = secret_values[name]
    return environment


SECRET_VALUES = {
    "CIENTY_WHATSAPP_APP_SECRET": APP_SECRET,
    "CIENTY_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
    "CIENTY_WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
    "CIENTY_SERVICE_TOKEN": SERVICE_TOKEN,
    "CIENTY_REDIS_URL": REDIS_URL,
    "CIENTY_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
}


def settings_of(
    manifests: list[Manifest],
    process: str,
    env: pytest.MonkeyPatch,
    secret_values: dict[str, str] | None = None,
) -> GatewaySettings:
    for name, value in pod_environment(manifests, process, secret_values or SECRET_VALUES).items():
        env.setenv(name, value)
    return GatewaySettings()


# ------------------------------------------------------------------------ default off, valid


def test_off_by_default(chart: helm.Chart) -> None:
    """The gateway needs a Meta app and a public URL, which have no defaults: off until asked."""
    assert chart.values["whatsapp"]["enabled"] is False
    manifests = render_all(chart)
    assert ours(manifests) == []
    assert "WhatsApp" not in notes_all(chart)


def test_enabling_it_adds_its_objects_and_changes_nothing_else(chart: helm.Chart) -> None:
    base = merge(CREDENTIALS, FIXED_COMMERCE_TOKEN)
    without = render_all(chart, base)
    with_it = render_all(chart, base, ENABLED)
    assert [m for m in with_it if m not in ours(with_it)] == without
    assert ours(with_it)
    off = render_all(chart, base, every_option(), ENABLED, {"whatsapp": {"enabled": False}})
    assert ours(off) == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_enabled_renders_two_processes_as_valid_manifests(chart: helm.Chart, version: str) -> None:
    manifests = render_all(chart, CREDENTIALS, ENABLED)
    assert sorted((m["kind"], component(m)) for m in ours(manifests)) == [
        ("ConfigMap", "whatsapp-webhook"),
        ("ConfigMap", "whatsapp-worker"),
        ("Deployment", "whatsapp-webhook"),
        ("Deployment", "whatsapp-worker"),
        ("PodDisruptionBudget", "whatsapp-webhook"),
        ("PodDisruptionBudget", "whatsapp-worker"),
        ("Secret", "whatsapp"),
        ("Service", "whatsapp-webhook"),
        ("ServiceAccount", "whatsapp"),
    ]
    for manifest in manifests:
        validate_strict(manifest, version)
        assert manifest["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(every_option(), id="every-option"),
        pytest.param(WITHOUT_CONVERSATIONS, id="without-conversations"),
        pytest.param({"whatsapp": {"secrets": {"existingSecret": "wa"}}}, id="existing"),
        pytest.param(
            {
                "whatsapp": {
                    "meta": {"phoneNumberId": ""},
                    "secrets": {"existingSecret": "whatsapp-credentials"},
                }
            },
            id="phone-number-id-in-secret",
        ),
        pytest.param(
            {"whatsapp": {"worker": {"media": {"persistence": {"enabled": True}}}}},
            id="persistence",
        ),
        pytest.param(
            {
                "whatsapp": {
                    "worker": {"media": {"persistence": {"enabled": True, "existingClaim": "m"}}}
                }
            },
            id="existing-claim",
        ),
        pytest.param(
            {
                "whatsapp": {
                    "webhook": {"ingress": {"enabled": True, "host": "wa.example.com"}},
                    "networkPolicy": {"enabled": True},
                }
            },
            id="ingress-and-policies",
        ),
    ],
)
def test_configurations_render_valid_manifests(
    chart: helm.Chart, version: str, layer: dict[str, Any]
) -> None:
    manifests = render_all(chart, CREDENTIALS, ENABLED, layer)
    assert webhook(manifests)
    assert worker(manifests)
    for manifest in manifests:
        if manifest["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # CRDs of the Prometheus Operator: checked in test_monitors...
        validate_strict(manifest, version)


def test_chart_lints_with_the_component_configured() -> None:
    for layer in ({}, every_option(), WITHOUT_CONVERSATIONS):
        values = merge(CREDENTIALS, ENABLED, layer)
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


# ------------------------------------------------------------------------------------ schema


def test_schema_accepts_defaults_and_a_full_configuration(chart: helm.Chart) -> None:
    chart.validate_schema(chart.merge_values({}))
    chart.validate_schema(chart.merge_values(merge(CREDENTIALS, ENABLED, every_option())))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"whatsapp": {"enabled": "yes"}}, id="enabled-string"),
        pytest.param({"whatsap": {"enabled": True}}, id="misspelt-component"),
        pytest.param({"whatsapp": {"replicas": 3}}, id="unknown-key"),
        pytest.param({"whatsapp": {"webhook": {"replicas": 3}}}, id="unknown-webhook-key"),
        pytest.param({"whatsapp": {"worker": {"port": 1}}}, id="unknown-worker-key"),
        pytest.param({"whatsapp": {"meta": {"appSecret": "x"}}}, id="secret-under-meta"),
        pytest.param({"whatsapp": {"meta": {"phoneNumberId": "+5511"}}}, id="phone-id-digits"),
        pytest.param({"whatsapp": {"meta": {"phoneNumberId": 123}}}, id="phone-id-number"),
        pytest.param({"whatsapp": {"meta": {"graphUrl": "graph.facebook.com"}}}, id="graph-url"),
        pytest.param({"whatsapp": {"environment": "staging"}}, id="environment"),
        pytest.param({"whatsapp": {"image": {"digest": "latest"}}}, id="digest"),
        pytest.param({"whatsapp": {"ports": {"http": 70000}}}, id="port-range"),
        pytest.param({"whatsapp": {"conversations": {"addr": "http://c:1"}}}, id="addr-url"),
        pytest.param({"whatsapp": {"conversations": {"addr": "conversations"}}}, id="no-port"),
        pytest.param({"whatsapp": {"inbound": {"partitions": 0}}}, id="partitions-0"),
        pytest.param({"whatsapp": {"inbound": {"partitions": 2048}}}, id="partitions-max"),
        pytest.param({"whatsapp": {"inbound": {"dedupeTtlHours": 24}}}, id="dedupe-under-7d"),
        pytest.param({"whatsapp": {"inbound": {"handleDeadlineSeconds": 0}}}, id="deadline-0"),
        pytest.param({"whatsapp": {"inbound": {"floodBurst": 0}}}, id="flood-burst"),
        pytest.param({"whatsapp": {"outbound": {"group": "a b"}}}, id="group-name"),
        pytest.param({"whatsapp": {"outbound": {"paceSeconds": -1}}}, id="pace"),
        pytest.param({"whatsapp": {"webhook": {"maxBodyBytes": 1024}}}, id="body-under-3mb"),
        pytest.param({"whatsapp": {"secrets": {"redisUrl": "http://cache"}}}, id="not-redis"),
        pytest.param({"whatsapp": {"secrets": {"serviceToken": "short"}}}, id="short-token"),
        pytest.param({"whatsapp": {"secrets": {"existingSecret": "Bad_Name"}}}, id="secret-name"),
        pytest.param(
            {"whatsapp": {"secrets": {"existingSecretKeys": {"appSecret": ""}}}},
            id="empty-key-name",
        ),
        pytest.param(
            {"whatsapp": {"extraEnv": {"CIENTY_WHATSAPP_APP_SECRET": APP_SECRET}}},
            id="app-secret-in-configmap",
        ),
        pytest.param(
            {"whatsapp": {"extraEnv": {"CIENTY_WHATSAPP_ACCESS_TOKEN": "x"}}},
            id="access-token-in-configmap",
        ),
        pytest.param({"whatsapp": {"extraEnv": {"CIENTY_REDIS_URL": REDIS_URL}}}, id="redis-cm"),
        pytest.param(
            {"whatsapp": {"extraEnv": {"CIENTY_CONVERSATIONS_ADDR": "x:1"}}}, id="managed-env"
        ),
        pytest.param({"whatsapp": {"extraEnv": {"HOME": "/tmp"}}}, id="not-cienty"),
        pytest.param(
            {"whatsapp": {"webhook": {"ingress": {"host": "https://wa.example.com"}}}},
            id="host-with-scheme",
        ),
        pytest.param(
            {"whatsapp": {"webhook": {"ingress": {"host": "wa.example.com/webhook"}}}},
            id="host-with-path",
        ),
        pytest.param(
            {"whatsapp": {"worker": {"media": {"mountPath": "media"}}}}, id="relative-mount"
        ),
        pytest.param(
            {"whatsapp": {"worker": {"media": {"persistence": {"accessModes": ["RWX"]}}}}},
            id="access-mode",
        ),
        pytest.param(
            {"whatsapp": {"worker": {"media": {"persistence": {"size": "lots"}}}}}, id="size"
        ),
        pytest.param(
            {"whatsapp": {"webhook": {"autoscaling": {"targetCPUUtilizationPercentage": 0}}}},
            id="hpa-target",
        ),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(chart.merge_values(bad))
    with pytest.raises(helm.HelmValuesError):
        render_all(chart, ENABLED, bad)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        pytest.param(
            {"whatsapp": {"meta": {"phoneNumberId": ""}}},
            "whatsapp.meta.phoneNumberId is empty",
            id="no-phone-number-id",
        ),
        pytest.param(
            {"conversations": {"enabled": False}},
            "whatsapp.conversations.addr is empty",
            id="no-conversations",
        ),
        pytest.param(
            {"whatsapp": {"webhook": {"ingress": {"enabled": True}}}},
            "needs whatsapp.webhook.ingress.host",
            id="ingress-without-host",
        ),
        pytest.param(
            {"whatsapp": {"webhook": {"terminationGracePeriodSeconds": 25}}},
            "whatsapp.webhook.terminationGracePeriodSeconds (25) must exceed",
            id="webhook-grace",
        ),
        pytest.param(
            {"whatsapp": {"worker": {"terminationGracePeriodSeconds": 80}}},
            "whatsapp.worker.terminationGracePeriodSeconds (80) must exceed",
            id="worker-grace",
        ),
        pytest.param(
            {"whatsapp": {"inbound": {"handleDeadlineSeconds": 85}}},
            "at least whatsapp.inbound.handleDeadlineSeconds",
            id="drain-shorter-than-a-turn",
        ),
        pytest.param(
            {
                "whatsapp": {
                    "webhook": {
                        "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}
                    }
                }
            },
            "minReplicas",
            id="hpa-bounds",
        ),
        pytest.param(
            {"whatsapp": {"inbound": {"retryBaseSeconds": 600}}},
            "retryBaseSeconds must not exceed",
            id="retry-bounds",
        ),
        pytest.param({"whatsapp": {"ports": {"http": 9090}}}, "must differ", id="same-ports"),
    ],
)
def test_chart_refuses_settings_that_cannot_work(
    chart: helm.Chart, layer: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_all(chart, ENABLED, layer)


# -------------------------------------------------------------------- settings the pods read


def accepted_env_names() -> set[str]:
    """The variables GatewaySettings reads (prefix + field, or its alias)."""
    prefix = str(GatewaySettings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in GatewaySettings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


@pytest.mark.parametrize("process", ["webhook", "worker"])
@pytest.mark.parametrize(
    "layer",
    [
        pytest.param({}, id="defaults"),
        pytest.param(every_option(), id="every-option"),
        pytest.param({"whatsapp": {"secrets": {"existingSecret": "wa"}}}, id="existing"),
        pytest.param(
            {"whatsapp": {"meta": {"phoneNumberId": ""}, "secrets": {"existingSecret": "wa"}}},
            id="phone-number-id-in-secret",
        ),
    ],
)
def test_every_variable_is_one_the_gateway_reads(
    chart: helm.Chart, process: str, layer: dict[str, Any]
) -> None:
    """Each ConfigMap key and secret variable is a field of GatewaySettings: none is silently
    ignored (its model_config has extra="ignore")."""
    manifests = render_all(chart, ENABLED, layer)
    accepted = accepted_env_names()
    assert set(config_data(manifests, process)) - accepted == set()
    assert set(env_of(one(manifests, "Deployment", process))) - accepted == set()


@pytest.mark.parametrize("process", ["webhook", "worker"])
def test_defaults_parse_into_gateway_settings(
    chart: helm.Chart, process: str, clean_env: pytest.MonkeyPatch
) -> None:
    manifests = render_all(chart, CREDENTIALS, ENABLED)
    settings = settings_of(manifests, process, clean_env)
    assert settings.environment == "production"  # and it accepted these credentials
    assert settings.whatsapp_app_secret.get_secret_value() == APP_SECRET
    assert settings.whatsapp_verify_token.get_secret_value() == VERIFY_TOKEN
    assert settings.whatsapp_access_token.get_secret_value() == ACCESS_TOKEN
    assert settings.service_token.get_secret_value() == SERVICE_TOKEN
    assert settings.redis_url == REDIS_URL
    assert settings.whatsapp_phone_number_id == PHONE_NUMBER_ID
    assert str(settings.whatsapp_graph_url) == "https://graph.facebook.com/v23.0"
    assert settings.conversations_addr == f"{RELEASE}-conversations.{NAMESPACE}.svc:50051"
    assert settings.metrics_port == 9090
    assert settings.outbound_stream == "conversations.outbound"
    if process == "webhook":
        assert settings.http_port == 8080
        assert settings.webhook_max_body_bytes == 4 * 1024 * 1024
        assert settings.shutdown_grace_seconds == 20
    else:
        assert settings.media_dir == "/var/lib/cienty/media"
        assert settings.shutdown_grace_seconds == 80


def test_every_option_parses_into_gateway_settings(
    chart: helm.Chart, clean_env: pytest.MonkeyPatch
) -> None:
    manifests = render_all(chart, CREDENTIALS, ENABLED, every_option())
    settings = settings_of(manifests, "worker", clean_env)
    assert settings.log_level == "DEBUG"
    assert str(settings.whatsapp_graph_url) == "https://graph.facebook.com/v24.0"
    assert settings.metrics_port == 9191
    assert settings.inbound_partitions == 32
    assert settings.dedupe_ttl_hours == 240
    assert settings.handle_deadline_seconds == 50
    assert settings.max_attempts == 5
    assert settings.retry_base_seconds == 0.5
    assert settings.retry_max_seconds == 120
    assert settings.stale_message_hours == 12
    assert settings.flood_burst == 6
    assert settings.flood_per_minute == 12.5
    assert settings.outbound_group == "gateway-eu"
    assert settings.pace_seconds == 4
    assert settings.pace_burst == 2
    assert settings.media_dir == "/data/media"
    assert settings.shutdown_grace_seconds == 60
    assert settings.grpc_max_concurrent_rpcs == 0
    for name in list(os.environ):
        if name.startswith("CIENTY_"):
            clean_env.delenv(name)
    hook = settings_of(manifests, "webhook", clean_env)
    assert (hook.http_port, hook.http_host) == (8081, "0.0.0.0")
    assert hook.webhook_max_body_bytes == 8 * 1024 * 1024


def test_production_refuses_the_development_credentials(
    chart: helm.Chart, clean_env: pytest.MonkeyPatch
) -> None:
    """The chart passes what it is given; the settings validator stops a production pod that
    got the development Meta credentials (the pod crash-loops with the variable's name)."""
    dev = {
        "appSecret": DEVELOPMENT_APP_SECRET,
        "verifyToken": DEVELOPMENT_VERIFY_TOKEN,
        "accessToken": DEVELOPMENT_ACCESS_TOKEN,
    }
    manifests = render_all(chart, CREDENTIALS, ENABLED, {"whatsapp": {"secrets": dev}})
    values = SECRET_VALUES | {
        "CIENTY_WHATSAPP_APP_SECRET": DEVELOPMENT_APP_SECRET,
        "CIENTY_WHATSAPP_VERIFY_TOKEN": DEVELOPMENT_VERIFY_TOKEN,
        "CIENTY_WHATSAPP_ACCESS_TOKEN": DEVELOPMENT_ACCESS_TOKEN,
    }
    with pytest.raises(ValueError, match="CIENTY_WHATSAPP_APP_SECRET must be set in production"):
        settings_of(manifests, "webhook", clean_env, values)
    development = render_all(
        chart, CREDENTIALS, ENABLED, {"whatsapp": {"secrets": dev, "environment": "development"}}
    )
    clean_env.setenv("CIENTY_ENVIRONMENT", "development")
    assert settings_of(development, "webhook", clean_env, values).environment == "development"


def test_chart_defaults_are_the_service_defaults(chart: helm.Chart) -> None:
    """Where the chart has no reason to differ, its defaults are GatewaySettings' own, so
    `cienty dev up` and the cluster behave alike."""
    deliberate = {
        "CIENTY_ENVIRONMENT",  # production in a cluster
        "CIENTY_WHATSAPP_PHONE_NUMBER_ID",  # the install's own
        "CIENTY_CONVERSATIONS_ADDR",  # the release's conversations Service
        "CIENTY_MEDIA_DIR",  # the media volume
        "CIENTY_SHUTDOWN_GRACE_SECONDS",  # the worker's drain covers one agent turn
    }
    manifests = render_all(chart, ENABLED)
    config = config_data(manifests, "webhook") | config_data(manifests, "worker")
    prefix = str(GatewaySettings.model_config.get("env_prefix", ""))
    compared = 0
    for field_name, field in GatewaySettings.model_fields.items():
        name = f"{prefix}{field_name}".upper()
        if name not in config or name in deliberate:
            continue
        default = field.default
        value = config[name]
        if isinstance(default, bool):
            assert value == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(value) == default, name
        else:
            assert value == str(default), name
        compared += 1
    assert compared >= 18
    assert config_data(manifests, "webhook")["CIENTY_SHUTDOWN_GRACE_SECONDS"] == "20"


def test_conversations_addr_and_outbound_stream_follow_conversations(chart: helm.Chart) -> None:
    layers: list[dict[str, Any]] = [{}, {"conversations": {"ports": {"grpc": 6000}}}]
    for layer in layers:
        manifests = render_all(chart, ENABLED, layer)
        service = by_component(manifests, "Service", "conversations")
        grpc = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
        host, port = config_data(manifests, "worker")["CIENTY_CONVERSATIONS_ADDR"].rsplit(":", 1)
        assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
        assert int(port) == grpc
    for addr in ("conversations.example.internal:443", "dns:///conversations:50051"):
        given = {"whatsapp": {"conversations": {"addr": addr}}}
        assert (
            config_data(render_all(chart, ENABLED, given), "worker")["CIENTY_CONVERSATIONS_ADDR"]
            == addr
        )
    renamed = {"conversations": {"streams": {"outbound": "agent.outbound"}}}
    config = config_data(render_all(chart, ENABLED, renamed), "worker")
    assert config["CIENTY_OUTBOUND_STREAM"] == "agent.outbound"
    own = {"whatsapp": {"outbound": {"stream": "gateway.outbound"}}}
    config = config_data(render_all(chart, ENABLED, renamed, own), "worker")
    assert config["CIENTY_OUTBOUND_STREAM"] == "gateway.outbound"


# ------------------------------------------------------------------------------ Deployments


def test_the_two_processes_run_their_commands_from_one_image(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    hook, work = container(webhook(manifests)), container(worker(manifests))
    assert "command" not in hook
    assert "command" not in work
    assert hook["args"] == ["whatsapp", "webhook"]
    assert work["args"] == ["whatsapp", "worker"]
    assert hook["image"] == work["image"] == "cienty/whatsapp-gateway:0.1.0"
    assert webhook(manifests)["spec"]["replicas"] == 2
    assert worker(manifests)["spec"]["replicas"] == 2
    digest = "sha256:" + "d" * 64
    for layer, expected in (
        (
            every_option(),
            "123456789012.dkr.ecr.sa-east-1.amazonaws.com/cienty/whatsapp-gateway:abc123",
        ),
        ({"whatsapp": {"image": {"digest": digest}}}, f"cienty/whatsapp-gateway@{digest}"),
    ):
        rendered = render_all(chart, ENABLED, layer)
        assert container(webhook(rendered))["image"] == expected
        assert container(worker(rendered))["image"] == expected


def test_webhook_probes_are_http_on_its_port(chart: helm.Chart) -> None:
    for layer in ({}, {"whatsapp": {"ports": {"http": 8181, "metrics": 9191}}}):
        manifests = render_all(chart, ENABLED, layer)
        hook = container(webhook(manifests))
        ports = {p["name"]: p["containerPort"] for p in hook["ports"]}
        config = config_data(manifests, "webhook")
        assert ports == {
            "http": int(config["CIENTY_HTTP_PORT"]),
            "metrics": int(config["CIENTY_METRICS_PORT"]),
        }
        paths = {
            "startupProbe": "/healthz",
            "livenessProbe": "/healthz",
            "readinessProbe": "/readyz",
        }
        for probe, path in paths.items():
            assert hook[probe]["httpGet"] == {"path": path, "port": "http"}, probe
        service_ports = {p["name"]: p["port"] for p in one(manifests, "Service")["spec"]["ports"]}
        assert service_ports == ports


def test_webhook_serves_the_paths_the_probes_and_the_ingress_use() -> None:
    """The paths are the webhook app's own routes."""
    from redis.asyncio import Redis

    from cienty_whatsapp.webhook.app import create_webhook_app

    # Nothing connects until a request needs Redis.
    app = create_webhook_app(GatewaySettings(environment="test"), Redis.from_url("redis://x:1"))
    routes = {getattr(route, "path", "") for route in app.routes}
    assert {"/webhook", "/healthz", "/readyz"} <= routes


def test_worker_has_no_inbound_port_but_metrics_and_a_liveness_probe(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    work = container(worker(manifests))
    assert [p["name"] for p in work["ports"]] == ["metrics"]
    assert work["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert "readinessProbe" not in work
    assert "startupProbe" not in work
    assert "CIENTY_HTTP_PORT" not in config_data(manifests, "worker")
    # No Service selects the worker.
    pod_labels = worker(manifests)["spec"]["template"]["metadata"]["labels"]
    for service in (m for m in manifests if m["kind"] == "Service"):
        assert not service["spec"]["selector"].items() <= pod_labels.items()
    off = render_all(
        chart, ENABLED, {"whatsapp": {"worker": {"livenessProbe": {"enabled": False}}}}
    )
    assert "livenessProbe" not in container(worker(off))


def test_security_context_is_commerce_s(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    commerce_pod = by_component(manifests, "Deployment", "commerce")["spec"]["template"]["spec"]
    for deployment in (webhook(manifests), worker(manifests)):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"] == commerce_pod["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False
        security = pod["containers"][0]["securityContext"]
        assert security == commerce_pod["containers"][0]["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert pod["serviceAccountName"] == one(manifests, "ServiceAccount")["metadata"]["name"]
    assert one(manifests, "ServiceAccount")["automountServiceAccountToken"] is False


def test_media_is_an_empty_dir_or_a_shared_claim_at_the_media_dir(chart: helm.Chart) -> None:
    def media(manifests: list[Manifest]) -> tuple[str, dict[str, Any]]:
        pod = worker(manifests)["spec"]["template"]["spec"]
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "media"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "media"]
        assert mount["mountPath"] == config_data(manifests, "worker")["CIENTY_MEDIA_DIR"]
        return mount["mountPath"], volume

    path, volume = media(render_all(chart, ENABLED))
    assert (path, volume["emptyDir"]) == ("/var/lib/cienty/media", {"sizeLimit": "2Gi"})
    assert "media" not in {
        v["name"]
        for v in webhook(render_all(chart, ENABLED))["spec"]["template"]["spec"]["volumes"]
    }
    persistent = render_all(chart, ENABLED, every_option())
    path, volume = media(persistent)
    claim = one(persistent, "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["metadata"]["annotations"]["example.com/backup"] == "daily"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "efs-sc"
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    existing = {
        "whatsapp": {
            "worker": {"media": {"persistence": {"enabled": True, "existingClaim": "media"}}}
        }
    }
    manifests = render_all(chart, ENABLED, existing)
    assert "PersistentVolumeClaim" not in kinds(ours(manifests))
    assert media(manifests)[1]["persistentVolumeClaim"] == {"claimName": "media"}
    notes = notes_all(chart, ENABLED, existing)
    assert "kept on the claim media" in notes
    rwo = {
        "whatsapp": {
            "worker": {
                "media": {"persistence": {"enabled": True, "accessModes": ["ReadWriteOnce"]}}
            }
        }
    }
    assert "without ReadWriteMany" in notes_all(chart, ENABLED, rwo)
    assert "lost with the pod" in notes_all(chart, ENABLED)


def test_graceful_shutdown(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    hook = webhook(manifests)["spec"]["template"]["spec"]
    drain = float(config_data(manifests, "webhook")["CIENTY_SHUTDOWN_GRACE_SECONDS"])
    sleep = float(hook["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert hook["terminationGracePeriodSeconds"] > drain + sleep
    work = worker(manifests)["spec"]["template"]["spec"]
    config = config_data(manifests, "worker")
    drain = float(config["CIENTY_SHUTDOWN_GRACE_SECONDS"])
    assert "lifecycle" not in work["containers"][0]  # no endpoints to leave
    assert work["terminationGracePeriodSeconds"] > drain
    assert drain >= float(config["CIENTY_HANDLE_DEADLINE_SECONDS"])


def test_containers_request_resources(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    for deployment in (webhook(manifests), worker(manifests)):
        resources = container(deployment)["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert "memory" in resources["limits"]


def test_environment_comes_from_the_process_configmap_and_secrets(chart: helm.Chart) -> None:
    manifests = render_all(chart, CREDENTIALS, ENABLED)
    for process in ("webhook", "worker"):
        deployment = one(manifests, "Deployment", process)
        config_map = one(manifests, "ConfigMap", process)
        env = env_of(deployment)
        refs = secret_refs(deployment)
        assert set(env) == set(config_map["data"]) | set(refs)
        for name in config_map["data"]:
            assert env[name]["valueFrom"]["configMapKeyRef"] == {
                "name": config_map["metadata"]["name"],
                "key": name,
            }
        assert set(refs) == SECRET_ENV
        assert set(config_map["data"]).isdisjoint(refs)
        assert all("value" not in entry for entry in env.values())


def test_scheduling_options_pass_through_and_hpa_owns_webhook_replicas(chart: helm.Chart) -> None:
    options = every_option()["whatsapp"]
    manifests = render_all(chart, ENABLED, every_option())
    for process in ("webhook", "worker"):
        pod = one(manifests, "Deployment", process)["spec"]["template"]["spec"]
        for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"):
            assert pod[key] == options[process][key], key
        assert pod["priorityClassName"] == "cienty-high"
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        template = one(manifests, "Deployment", process)["spec"]["template"]["metadata"]
        assert template["labels"]["example.com/tier"] == "edge"
        assert template["annotations"]["example.com/scrape"] == "true"
    assert "replicas" not in webhook(manifests)["spec"]
    assert worker(manifests)["spec"]["replicas"] == 3
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == webhook(manifests)["metadata"]["name"]
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}


@pytest.mark.parametrize(
    ("change", "annotation", "processes"),
    [
        ({"whatsapp": {"inbound": {"maxAttempts": 3}}}, "checksum/config", ("webhook", "worker")),
        ({"whatsapp": {"webhook": {"maxBodyBytes": 5242880}}}, "checksum/config", ("webhook",)),
        ({"whatsapp": {"worker": {"media": {"mountPath": "/m"}}}}, "checksum/config", ("worker",)),
        ({"conversations": {"ports": {"grpc": 6000}}}, "checksum/config", ("webhook", "worker")),
        (
            {"whatsapp": {"secrets": {"accessToken": "new-token"}}},
            "checksum/secrets",
            ("webhook", "worker"),
        ),
        (
            {"whatsapp": {"secrets": {"existingSecret": "w"}}},
            "checksum/secrets",
            ("webhook", "worker"),
        ),
        (
            {"conversations": {"secrets": {"redisUrl": REDIS_URL}}},
            "checksum/secrets",
            ("webhook", "worker"),
        ),
        (
            {"commerce": {"secrets": {"serviceToken": "d" * 32}}},
            "checksum/secrets",
            ("webhook", "worker"),
        ),
    ],
)
def test_configuration_changes_roll_the_pods(
    chart: helm.Chart, change: dict[str, Any], annotation: str, processes: tuple[str, ...]
) -> None:
    def checksums(*layers: dict[str, Any]) -> dict[str, str]:
        manifests = render_all(chart, FIXED_COMMERCE_TOKEN, ENABLED, *layers)
        return {
            process: one(manifests, "Deployment", process)["spec"]["template"]["metadata"][
                "annotations"
            ][annotation]
            for process in ("webhook", "worker")
        }

    before = checksums()
    assert before == checksums()  # deterministic
    after = checksums(change)
    for process in ("webhook", "worker"):
        assert (after[process] != before[process]) is (process in processes), process


# ------------------------------------------------------------------------------------- Secrets


def test_token_and_redis_are_conversations_by_default(chart: helm.Chart) -> None:
    """The gateway calls conversations and reads the stream conversations writes: it uses the
    same token and Redis, wherever conversations reads them from (commerce's Secret by
    default)."""
    manifests = render_all(chart, CREDENTIALS, FIXED_COMMERCE_TOKEN, ENABLED)
    conversations_refs = secret_refs(by_component(manifests, "Deployment", "conversations"))
    for process in ("webhook", "worker"):
        refs = secret_refs(one(manifests, "Deployment", process))
        for name in ("CIENTY_SERVICE_TOKEN", "CIENTY_REDIS_URL"):
            assert refs[name] == conversations_refs[name]
            assert refs[name]["name"] == f"{RELEASE}-commerce"
    own = one(manifests, "Secret")
    assert decoded(own) == {
        "CIENTY_WHATSAPP_APP_SECRET": APP_SECRET,
        "CIENTY_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "CIENTY_WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
    }
    for name in ("CIENTY_WHATSAPP_APP_SECRET", "CIENTY_WHATSAPP_ACCESS_TOKEN"):
        assert secret_refs(worker(manifests))[name] == {
            "name": own["metadata"]["name"],
            "key": name,
            "optional": False,
        }
    assert "WARNING" not in notes_all(chart, CREDENTIALS, ENABLED).split("WhatsApp gateway")[1]


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        pytest.param(
            {"conversations": {"secrets": {"redisUrl": REDIS_URL}}},
            {"CIENTY_REDIS_URL": (f"{RELEASE}-conversations", "CIENTY_REDIS_URL")},
            id="conversations-own-redis",
        ),
        pytest.param(
            {
                "conversations": {
                    "secrets": {
                        "existingSecret": "conv",
                        "existingSecretKeys": {"serviceToken": "token", "redisUrl": "redis"},
                    }
                }
            },
            {"CIENTY_SERVICE_TOKEN": ("conv", "token"), "CIENTY_REDIS_URL": ("conv", "redis")},
            id="conversations-existing-secret",
        ),
        pytest.param(
            WITHOUT_CONVERSATIONS,
            {
                "CIENTY_SERVICE_TOKEN": (f"{RELEASE}-commerce", "CIENTY_SERVICE_TOKEN"),
                "CIENTY_REDIS_URL": (f"{RELEASE}-commerce", "CIENTY_REDIS_URL"),
            },
            id="commerce-without-conversations",
        ),
        pytest.param(
            merge(WITHOUT_CONVERSATIONS, {"commerce": {"enabled": False}}),
            {
                "CIENTY_SERVICE_TOKEN": (f"{RELEASE}-whatsapp", "CIENTY_SERVICE_TOKEN"),
                "CIENTY_REDIS_URL": (f"{RELEASE}-whatsapp", "CIENTY_REDIS_URL"),
            },
            id="alone",
        ),
        pytest.param(
            {"whatsapp": {"secrets": {"serviceToken": SERVICE_TOKEN}}},
            {"CIENTY_SERVICE_TOKEN": (f"{RELEASE}-whatsapp", "CIENTY_SERVICE_TOKEN")},
            id="own-token",
        ),
    ],
)
def test_where_the_token_and_redis_come_from(
    chart: helm.Chart, layer: dict[str, Any], expected: dict[str, tuple[str, str]]
) -> None:
    manifests = render_all(chart, CREDENTIALS, ENABLED, layer)
    refs = secret_refs(worker(manifests))
    for name, (secret, key) in expected.items():
        assert (refs[name]["name"], refs[name]["key"]) == (secret, key), name
    assert secret_refs(webhook(manifests)) == refs


def test_alone_in_a_release_nothing_is_generated_and_notes_say_what_to_set(
    chart: helm.Chart,
) -> None:
    alone = merge(WITHOUT_CONVERSATIONS, {"commerce": {"enabled": False}})
    manifests = render_all(chart, ENABLED, alone)
    assert ours(manifests) == manifests
    assert set(decoded(one(manifests, "Secret"))) == {
        "CIENTY_WHATSAPP_APP_SECRET",
        "CIENTY_WHATSAPP_VERIFY_TOKEN",
        "CIENTY_WHATSAPP_ACCESS_TOKEN",
    }
    text = notes_all(chart, ENABLED, alone)
    assert "CIENTY_SERVICE_TOKEN: set whatsapp.secrets.serviceToken" in text
    assert "CIENTY_REDIS_URL: set whatsapp.secrets.redisUrl" in text
    given = {"whatsapp": {"secrets": {"serviceToken": SERVICE_TOKEN, "redisUrl": REDIS_URL}}}
    data = decoded(one(render_all(chart, ENABLED, alone, given), "Secret"))
    assert (data["CIENTY_SERVICE_TOKEN"], data["CIENTY_REDIS_URL"]) == (SERVICE_TOKEN, REDIS_URL)
    assert "WARNING" not in notes_all(chart, ENABLED, alone, given)


def test_missing_meta_credentials_leave_their_keys_out_and_notes_warn(chart: helm.Chart) -> None:
    layer = {"whatsapp": {"secrets": {"verifyToken": "", "accessToken": ""}}}
    manifests = render_all(chart, CREDENTIALS, ENABLED, layer)
    assert set(decoded(one(manifests, "Secret"))) == {"CIENTY_WHATSAPP_APP_SECRET"}
    text = notes_all(chart, CREDENTIALS, ENABLED, layer)
    assert "CIENTY_WHATSAPP_VERIFY_TOKEN: set whatsapp.secrets.verifyToken" in text
    assert "CIENTY_WHATSAPP_ACCESS_TOKEN: set whatsapp.secrets.accessToken" in text
    assert "CIENTY_WHATSAPP_APP_SECRET:" not in text


def test_existing_secret_switches_every_key(chart: helm.Chart) -> None:
    existing = {
        "whatsapp": {
            "meta": {"phoneNumberId": ""},
            "secrets": {
                "existingSecret": "whatsapp-credentials",
                "existingSecretKeys": {"appSecret": "app-secret", "phoneNumberId": "phone-id"},
            },
        }
    }
    manifests = render_all(chart, CREDENTIALS, ENABLED, existing)
    assert "Secret" not in kinds(ours(manifests))
    for process in ("webhook", "worker"):
        refs = secret_refs(one(manifests, "Deployment", process))
        assert set(refs) == SECRET_ENV | {"CIENTY_WHATSAPP_PHONE_NUMBER_ID"}
        assert {ref["name"] for ref in refs.values()} == {"whatsapp-credentials"}
        assert refs["CIENTY_WHATSAPP_APP_SECRET"]["key"] == "app-secret"
        assert refs["CIENTY_WHATSAPP_PHONE_NUMBER_ID"]["key"] == "phone-id"
        assert refs["CIENTY_SERVICE_TOKEN"]["key"] == "CIENTY_SERVICE_TOKEN"
        assert "CIENTY_WHATSAPP_PHONE_NUMBER_ID" not in config_data(manifests, process)
    text = notes_all(chart, CREDENTIALS, ENABLED, existing)
    assert "app-secret (read as CIENTY_WHATSAPP_APP_SECRET)" in text
    assert "phone-id (read as CIENTY_WHATSAPP_PHONE_NUMBER_ID)" in text
    assert "WARNING" not in text.split("WhatsApp gateway")[1]
    # A phone number id in the values wins over the Secret's.
    given = render_all(
        chart, ENABLED, merge(existing, {"whatsapp": {"meta": {"phoneNumberId": "7"}}})
    )
    assert "CIENTY_WHATSAPP_PHONE_NUMBER_ID" not in secret_refs(worker(given))
    assert config_data(given, "worker")["CIENTY_WHATSAPP_PHONE_NUMBER_ID"] == "7"


def test_no_secret_value_is_written_outside_the_secrets(chart: helm.Chart) -> None:
    values = merge(CREDENTIALS, ENABLED, every_option())
    secrets = (APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN, SERVICE_TOKEN, REDIS_URL)
    for manifest in render_all(chart, values):
        if manifest["kind"] == "Secret":
            continue
        text = yaml.safe_dump(manifest)
        for secret in secrets:
            assert secret not in text, manifest["kind"]
    text = notes_all(chart, values)
    assert all(secret not in text for secret in secrets)


# ------------------------------------------------- Service, Ingress, PDBs, policies, monitors


def test_service_selects_the_webhook_pods_only(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    service = one(manifests, "Service")
    assert component(service) == "whatsapp-webhook"
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["http"]["targetPort"] == "http"
    assert ports["metrics"]["targetPort"] == "metrics"
    assert service["spec"]["type"] == "ClusterIP"
    selector = service["spec"]["selector"]
    assert selector.items() <= webhook(manifests)["spec"]["template"]["metadata"]["labels"].items()
    assert (
        not selector.items() <= worker(manifests)["spec"]["template"]["metadata"]["labels"].items()
    )
    for other in ("commerce", "conversations"):
        labels = by_component(manifests, "Deployment", other)["spec"]["template"]["metadata"][
            "labels"
        ]
        assert not selector.items() <= labels.items()


def test_ingress_routes_only_the_webhook_path_over_tls(chart: helm.Chart) -> None:
    assert "Ingress" not in kinds(render_all(chart, ENABLED))
    manifests = render_all(chart, ENABLED, every_option())
    ingress = one(manifests, "Ingress")
    service = one(manifests, "Service")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert ingress["spec"]["tls"] == [
        {"hosts": ["whatsapp.cienty.com.br"], "secretName": "whatsapp-cert"}
    ]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "whatsapp.cienty.com.br"
    [path] = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/webhook", "Exact")
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert "https://whatsapp.cienty.com.br/webhook" in notes_all(chart, ENABLED, every_option())
    plain = {"whatsapp": {"webhook": {"ingress": {"enabled": True, "host": "wa.example.com"}}}}
    ingress = one(render_all(chart, ENABLED, plain), "Ingress")
    assert "ingressClassName" not in ingress["spec"]
    assert ingress["spec"]["tls"][0]["secretName"] == f"{RELEASE}-whatsapp-tls"
    acm = merge(plain, {"whatsapp": {"webhook": {"ingress": {"tls": {"enabled": False}}}}})
    assert "tls" not in one(render_all(chart, ENABLED, acm), "Ingress")["spec"]
    assert "not exposed outside the cluster" in notes_all(chart, ENABLED)


def test_pdbs_select_their_own_pods(chart: helm.Chart) -> None:
    manifests = render_all(chart, ENABLED)
    for process in ("webhook", "worker"):
        pdb = one(manifests, "PodDisruptionBudget", process)
        assert pdb["spec"]["selector"] == one(manifests, "Deployment", process)["spec"]["selector"]
        assert pdb["spec"]["maxUnavailable"] == 1
    manifests = render_all(chart, ENABLED, every_option())
    assert one(manifests, "PodDisruptionBudget", "webhook")["spec"]["minAvailable"] == "50%"
    assert one(manifests, "PodDisruptionBudget", "worker")["spec"]["maxUnavailable"] == 2
    off = {
        "whatsapp": {"webhook": {"pdb": {"enabled": False}}, "worker": {"pdb": {"enabled": False}}}
    }
    assert "PodDisruptionBudget" not in kinds(ours(render_all(chart, ENABLED, off)))


def test_network_policies_admit_the_webhook_port_and_metrics_only(chart: helm.Chart) -> None:
    assert "NetworkPolicy" not in kinds(render_all(chart, ENABLED))
    manifests = render_all(chart, ENABLED, every_option())
    options = every_option()["whatsapp"]["networkPolicy"]
    hook = one(manifests, "NetworkPolicy", "webhook")
    work = one(manifests, "NetworkPolicy", "worker")
    assert hook["spec"]["podSelector"] == webhook(manifests)["spec"]["selector"]
    assert work["spec"]["podSelector"] == worker(manifests)["spec"]["selector"]
    for policy in (hook, work):
        assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert [(r["ports"], r["from"]) for r in hook["spec"]["ingress"]] == [
        ([{"port": "http", "protocol": "TCP"}], options["webhookFrom"]),
        ([{"port": "metrics", "protocol": "TCP"}], options["metricsFrom"]),
    ]
    assert [(r["ports"], r["from"]) for r in work["spec"]["ingress"]] == [
        ([{"port": "metrics", "protocol": "TCP"}], options["metricsFrom"]),
    ]
    # Without peers: from anywhere (Meta's addresses change; the signature is the check).
    anywhere = render_all(chart, ENABLED, {"whatsapp": {"networkPolicy": {"enabled": True}}})
    for rule in one(anywhere, "NetworkPolicy", "webhook")["spec"]["ingress"]:
        assert "from" not in rule


def test_monitors_only_when_enabled(chart: helm.Chart) -> None:
    assert {"ServiceMonitor", "PodMonitor"}.isdisjoint(kinds(render_all(chart, ENABLED)))
    manifests = render_all(chart, ENABLED, every_option())
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        one(manifests, "Service")["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    pod_monitor = one(manifests, "PodMonitor")
    assert pod_monitor["spec"]["selector"] == worker(manifests)["spec"]["selector"]
    [endpoint] = pod_monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    for m in (monitor, pod_monitor):
        assert m["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_every_whatsapp_object_carries_the_standard_labels(chart: helm.Chart) -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))["version"]
    assert version == "0.4.0"
    for manifest in ours(render_all(chart, CREDENTIALS, ENABLED, every_option())):
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "cienty"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/component"] in (
            "whatsapp",
            "whatsapp-webhook",
            "whatsapp-worker",
        )
        assert labels["app.kubernetes.io/part-of"] == "cienty"
        assert labels["helm.sh/chart"] == f"cienty-{version}"
        assert labels["team"] == "platform"
    manifests = render_all(chart, ENABLED)
    for deployment in (webhook(manifests), worker(manifests)):
        assert set(deployment["spec"]["selector"]["matchLabels"]) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        }


# ----------------------------------------------------------------------------------- Dockerfile


def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def pins(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name.strip().lower(): version.strip() for name, version in pairs}


def project(path: str) -> dict[str, Any]:
    with (ROOT / path / "pyproject.toml").open("rb") as file:
        data: dict[str, Any] = tomllib.load(file)
    return data


def test_dockerfile_generates_the_stubs_of_every_contract_it_calls() -> None:
    text = dockerfile()
    generators = pins(ROOT / "requirements" / "dev.txt")
    for tool in ("grpcio-tools", "mypy-protobuf"):
        assert f"{tool}=={generators[tool]}" in text
    [protoc] = re.findall(r"grpc_tools\.protoc(.*?)(?:\n\s*&&|\n\n)", text, re.S)
    globs = set(re.findall(r"proto/cienty/\S+\.proto", protoc))
    assert globs == {f"proto/cienty/{name}/v1/*.proto" for name in PROTOS}
    compiled = {
        p for name in PROTOS for p in (ROOT / "proto" / "cienty" / name / "v1").glob("*.proto")
    }
    for path in compiled:
        for imported in re.findall(r'^import "([^"]+)";', path.read_text(), re.M):
            assert imported.startswith("google/") or ROOT / "proto" / imported in compiled
    # Every contract the gateway's code imports is compiled.
    used = {
        match
        for source in (ROOT / "services" / "whatsapp_gateway" / "src").rglob("*.py")
        for match in re.findall(r"cienty\.(\w+)\.v1", source.read_text(encoding="utf-8"))
    }
    assert used <= set(PROTOS)


def test_dockerfile_builds_and_installs_exactly_the_three_distributions() -> None:
    text = dockerfile()
    wheel = re.search(r"pip wheel --wheel-dir /wheels -c \S+\s*\\\s*\n\s*(.+?)\n", text)
    assert wheel is not None
    paths = [p.removeprefix("./") for p in wheel.group(1).split()]
    assert tuple(paths) == DISTRIBUTIONS
    for path in paths:
        if path != "proto":
            assert re.search(rf"^COPY {path}/ {path}/$", text, re.M), path
    names = [project(path)["project"]["name"] for path in paths]
    install = re.search(
        r"pip install --no-index --find-links /wheels\s*\\\s*\n\s*(.+?)\s*\\?\n", text
    )
    assert install is not None
    assert install.group(1).split() == names
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # build and runtime


def distribution_closure(names: list[str]) -> set[str]:
    """Every distribution installing `names` installs (as installed here)."""
    seen: set[str] = set()
    pending = [n.lower().replace("_", "-") for n in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requirements:
            requirement = Requirement(spec)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            pending.append(requirement.name.lower().replace("_", "-"))
    return seen


def test_the_image_has_every_distribution_the_gateway_imports_and_no_torch() -> None:
    """Each third-party module the gateway's code imports comes from a distribution that the
    three installed ones pull in: the image cannot miss one. And none of them pulls torch."""
    installed = distribution_closure([project(p)["project"]["name"] for p in DISTRIBUTIONS])
    assert "torch" not in installed
    assert not {"cienty-llm", "cienty-knowledge", "cienty-conversations"} & installed
    providers = metadata.packages_distributions()
    source = ROOT / "services" / "whatsapp_gateway" / "src" / "cienty_whatsapp"
    imported: set[str] = set()
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {
        m for m in imported if m not in sys.stdlib_module_names and m != "cienty_whatsapp"
    }
    for module in sorted(third_party):
        distributions = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        assert distributions & installed, (module, distributions)


def test_the_gateway_imports_without_the_other_services() -> None:
    """What the image can run: every module of the gateway, with the distributions the image
    leaves out made unimportable."""
    code = """
import importlib, pkgutil, sys
for blocked in ("torch", "cienty_llm", "cienty_knowledge", "cienty_conversations",
                "cienty_commerce", "sentence_transformers"):
    sys.modules[blocked] = None
import cienty_whatsapp
for module in pkgutil.walk_packages(cienty_whatsapp.__path__, "cienty_whatsapp."):
    importlib.import_module(module.name)
importlib.import_module("cienty.conversations.v1.conversations_pb2_grpc")
importlib.import_module("cienty.commerce.v1.customers_pb2_grpc")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_dockerfile_user_entrypoint_ports_and_command(chart: helm.Chart) -> None:
    text = dockerfile()
    security = chart.values["whatsapp"]["securityContext"]
    assert re.search(rf"^USER {security['runAsUser']}:{security['runAsGroup']}$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["cienty"\]$', text, re.M)
    cmd = re.search(r"^CMD (.+)$", text, re.M)
    assert cmd is not None
    manifests = render_all(chart, ENABLED)
    assert json.loads(cmd.group(1)) == container(webhook(manifests))["args"]
    ports = chart.values["whatsapp"]["ports"]
    assert re.search(rf"^EXPOSE {ports['http']} {ports['metrics']}$", text, re.M)
    assert re.search(r"^WORKDIR /tmp$", text, re.M)  # the pods' writable emptyDir
    # The runtime stage checks the CLI it runs and that the simulator's page ships.
    assert "cienty whatsapp --help" in text
    assert "joinpath('static/index.html')" in text
    gateway = project("services/whatsapp_gateway")
    assert gateway["project"]["entry-points"]["cienty.commands"] == {
        "whatsapp": "cienty_whatsapp.cli:whatsapp"
    }
    assert "simulator/static/*" in gateway["tool"]["setuptools"]["package-data"]["cienty_whatsapp"]


# ------------------------------------------------------------------------------------ skaffold


def skaffold() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text(encoding="utf-8"))
    return config


def test_skaffold_builds_the_image_and_installs_a_working_gateway(chart: helm.Chart) -> None:
    config = skaffold()
    [artifact] = [
        a for a in config["build"]["artifacts"] if a["image"] == "cienty/whatsapp-gateway"
    ]
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).resolve() == DOCKERFILE
    assert artifact["image"] == chart.values["whatsapp"]["image"]["repository"]
    [release] = config["deploy"]["helm"]["releases"]
    sanitized = re.sub(r"[/.:-]", "_", artifact["image"])
    templates = release["setValueTemplates"]
    assert templates["whatsapp.image.repository"] == f"{{{{.IMAGE_REPO_{sanitized}}}}}"
    assert templates["whatsapp.image.tag"] == (
        f"{{{{.IMAGE_TAG_{sanitized}}}}}@{{{{.IMAGE_DIGEST_{sanitized}}}}}"
    )
    # What `skaffold run` installs: --set values, then the image wiring as skaffold fills it.
    values: dict[str, Any] = {}
    for key, value in release["setValues"].items():
        values = merge(values, helm.parse_set_string(f"{key}={value}"))
    digest = "sha256:" + "f" * 64
    values = merge(
        values,
        helm.parse_set_string(f"whatsapp.image.repository=ecr.example/{artifact['image']}"),
        helm.parse_set_string(f"whatsapp.image.tag=abc@{digest}"),
    )
    assert values["whatsapp"]["enabled"] is True
    chart.validate_schema(chart.merge_values(values))
    manifests = render_all(chart, values, name=release["name"], namespace=release["namespace"])
    image = f"ecr.example/cienty/whatsapp-gateway:abc@{digest}"
    assert container(webhook(manifests))["image"] == image
    assert container(worker(manifests))["image"] == image
    existing = release["setValues"]["whatsapp.secrets.existingSecret"]
    refs = secret_refs(worker(manifests))
    assert {ref["name"] for ref in refs.values()} == {existing}
    # The phone number id too: all of the Meta app's settings in the one Secret.
    assert "CIENTY_WHATSAPP_PHONE_NUMBER_ID" in refs
    readme = (ROOT / "k8s" / "README.md").read_text(encoding="utf-8")
    assert existing in readme
    for key in sorted(SECRET_ENV | {"CIENTY_WHATSAPP_PHONE_NUMBER_ID"}):
        assert key in readme, key
    # The address it names is the release's own conversations Service.
    conversations = by_component(manifests, "Service", "conversations")
    host, port = release["setValues"]["whatsapp.conversations.addr"].rsplit(":", 1)
    assert host == conversations["metadata"]["name"]
    assert int(port) == {p["name"]: p["port"] for p in conversations["spec"]["ports"]}["grpc"]
    for manifest in manifests:
        validate_strict(manifest, KUBE_VERSIONS[0])


def test_skaffold_forwards_the_webhook_port(chart: helm.Chart) -> None:
    config = skaffold()
    [release] = config["deploy"]["helm"]["releases"]
    manifests = render_all(chart, ENABLED, name=release["name"], namespace=release["namespace"])
    service = one(manifests, "Service")
    [forward] = [
        f for f in config["portForward"] if f["resourceName"] == service["metadata"]["name"]
    ]
    assert (forward["resourceType"], forward["namespace"]) == ("service", release["namespace"])
    assert forward["port"] == {p["name"]: p["port"] for p in service["spec"]["ports"]}["http"]
    local_ports = [f["localPort"] for f in config["portForward"]]
    assert len(set(local_ports)) == len(local_ports)


def test_skaffold_dev_profile_runs_the_gateway_against_the_simulator(
    chart: helm.Chart, clean_env: pytest.MonkeyPatch
) -> None:
    config = skaffold()
    [profile] = [p for p in config["profiles"] if p["name"] == "dev"]
    patched = {p["path"]: p["value"] for p in profile["patches"] if p["op"] == "add"}
    [values_file] = patched["/deploy/helm/releases/0/valuesFiles"]
    dev_values = yaml.safe_load((ROOT / values_file).read_text(encoding="utf-8"))
    namespace = config["deploy"]["helm"]["releases"][0]["namespace"]
    manifests = render_all(chart, dev_values, namespace=namespace)
    for manifest in ours(manifests):
        validate_strict(manifest, KUBE_VERSIONS[0])
    assert webhook(manifests)["spec"]["replicas"] == worker(manifests)["spec"]["replicas"] == 1
    # The development credentials are the settings' defaults, which the simulator signs with.
    secrets = decoded(one(manifests, "Secret"))
    assert secrets == {
        "CIENTY_WHATSAPP_APP_SECRET": DEVELOPMENT_APP_SECRET,
        "CIENTY_WHATSAPP_VERIFY_TOKEN": DEVELOPMENT_VERIFY_TOKEN,
        "CIENTY_WHATSAPP_ACCESS_TOKEN": DEVELOPMENT_ACCESS_TOKEN,
    }
    values = {
        **secrets,
        "CIENTY_SERVICE_TOKEN": dev_values["commerce"]["secrets"]["serviceToken"],
        "CIENTY_REDIS_URL": dev_values["commerce"]["secrets"]["redisUrl"],
    }
    settings = settings_of(manifests, "worker", clean_env, values)
    assert settings.environment == "development"
    # The simulator's stand-in Graph API, where `cienty whatsapp simulate` listens by default.
    assert str(settings.whatsapp_graph_url).rstrip("/").endswith(f":{DEFAULT_PORT}/graph/{VERSION}")
    default_id = GatewaySettings.model_fields["whatsapp_phone_number_id"].default
    assert settings.whatsapp_phone_number_id == default_id
    conversations = by_component(manifests, "Service", "conversations")
    assert settings.conversations_addr.split(":")[0] == conversations["metadata"]["name"]
    # Token and Redis are conversations' (commerce's dev Secret).
    refs = secret_refs(worker(manifests))
    assert (
        refs["CIENTY_REDIS_URL"]["name"]
        == by_component(manifests, "Secret", "commerce")["metadata"]["name"]
    )


# ---------------------------------------------------------------------------------------- docs


def test_the_deploy_guide_covers_every_variable_and_value(chart: helm.Chart) -> None:
    text = DOCS.read_text(encoding="utf-8")
    manifests = render_all(chart, ENABLED, every_option())
    names = set(config_data(manifests, "webhook")) | set(config_data(manifests, "worker"))
    names |= SECRET_ENV
    names -= set(every_option()["whatsapp"]["extraEnv"])
    for name in sorted(names):
        assert name in text, name

    def leaves(values: dict[str, Any], prefix: str) -> list[str]:
        found: list[str] = []
        for key, value in values.items():
            path = f"{prefix}.{key}"
            # Objects passed through to Kubernetes as written are documented as one value.
            opaque = ("resources", "annotations", "podSecurityContext", "securityContext")
            if isinstance(value, dict) and value and key not in opaque:
                found.extend(leaves(value, path))
            else:
                found.append(path.removeprefix("whatsapp."))
        return found

    undocumented = [
        leaf
        for leaf in leaves(chart.values["whatsapp"], "whatsapp")
        if not re.search(rf"[`.]{re.escape(leaf.rsplit('.', 1)[-1])}\b", text)
    ]
    assert undocumented == []
    for what in ("messages", "callback URL", "verify token", "App Secret", "system user"):
        assert what in text, what
