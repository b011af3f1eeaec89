"""The models' PrometheusRule: well-formed, and only metric names that Ray and vLLM export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ALERTS = Path(__file__).resolve().parents[2] / "models" / "monitoring" / "alerts.yaml"
# vLLM 0.32's engine metrics (vllm/v1/metrics/loggers.py), as Ray exports them
# (vllm/v1/metrics/ray_wrappers.py: `vllm:` -> `vllm_`, plus Ray's `ray_` prefix).
VLLM_METRICS = {
    "generation_tokens",
    "num_requests_running",
    "num_requests_waiting",
    "time_to_first_token_seconds",
    "kv_cache_usage_perc",
    "num_preemptions",
}
SERVE_METRICS = {"ray_serve_deployment_replica_healthy"}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def test_every_rule_is_an_alert_with_severity_and_summary() -> None:
    for rule in rules():
        assert rule["alert"]
        assert rule["expr"].strip()
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_required_conditions_are_watched() -> None:
    names = {rule["alert"] for rule in rules()}
    assert {
        "LLMEngineStalled",
        "LLMTimeToFirstTokenHigh",
        "LLMKVCacheNearlyFull",
        "LLMNoHealthyReplica",
    } <= names


def test_expressions_use_only_exported_metric_names() -> None:
    for rule in rules():
        for name in re.findall(r"ray_[a-z_]+", rule["expr"]):
            if name.startswith("ray_vllm_"):
                base = re.sub(r"_(bucket|total)$", "", name.removeprefix("ray_vllm_"))
                assert base in VLLM_METRICS, (rule["alert"], name)
            else:
                assert name in SERVE_METRICS, (rule["alert"], name)
