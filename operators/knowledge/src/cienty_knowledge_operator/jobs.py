"""The ingestion Job of one sync of a KnowledgeSource: its name, its manifest, its state."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cienty_knowledge_operator.constants import (
    API_VERSION,
    APP_NAME,
    CONFIGMAP_MOUNT_PATH,
    GENERATION_LABEL,
    KIND,
    MANAGED_BY,
    REPORT_FILE,
    SOURCE_LABEL,
    SYNC_LABEL,
)
from cienty_knowledge_operator.settings import OperatorSettings

_MAX_NAME = 63  # the Job controller copies the name into a label value (63 characters)


def job_name(source: str, generation: int, sync: int) -> str:
    """Deterministic: the same (source, generation, sync) always names the same Job, so a
    repeated create is a 409, never a second Job."""
    suffix = f"-g{generation}-s{sync}"
    if len(source) + len(suffix) <= _MAX_NAME:
        return source + suffix
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    keep = _MAX_NAME - len(suffix) - len(digest) - 1
    return f"{source[:keep].rstrip('-')}-{digest}{suffix}"


def worker_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec handed to `cienty kb ingest`: a ConfigMap source becomes the directory where
    the Job mounts it; the schedule is the operator's business."""
    result = {key: value for key, value in spec.items() if key != "schedule"}
    source = dict(spec.get("source") or {})
    if "configMap" in source:
        source = {"directory": {"path": CONFIGMAP_MOUNT_PATH}}
    result["source"] = source
    return result


def selector_for(source: str) -> str:
    return f"{SOURCE_LABEL}={source}"


def build_job(body: Mapping[str, Any], sync: int, settings: OperatorSettings) -> dict[str, Any]:
    """The batch/v1 Job for one sync of the KnowledgeSource `body`."""
    meta = body["metadata"]
    spec = body.get("spec") or {}
    source, namespace, generation = meta["name"], meta["namespace"], int(meta["generation"])
    labels = {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": source,
        "app.kubernetes.io/component": "ingestion",
        "app.kubernetes.io/part-of": "cienty",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        SOURCE_LABEL: source,
        GENERATION_LABEL: str(generation),
        SYNC_LABEL: str(sync),
    }
    args = [
        "kb",
        "ingest",
        "--source-name",
        source,
        "--spec-json",
        json.dumps(worker_spec(spec), sort_keys=True, separators=(",", ":")),
        "--report-file",
        REPORT_FILE,
    ]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    config_map = (spec.get("source") or {}).get("configMap")
    if config_map:
        volumes.append({"name": "source", "configMap": {"name": config_map["name"]}})
        mounts.append({"name": "source", "mountPath": CONFIGMAP_MOUNT_PATH, "readOnly": True})
    env_from: list[dict[str, Any]] = []
    if settings.worker_env_config_map:
        env_from.append({"configMapRef": {"name": settings.worker_env_config_map}})
    if settings.worker_env_secret:
        env_from.append({"secretRef": {"name": settings.worker_env_secret}})
    container: dict[str, Any] = {
        "name": "ingest",
        "image": settings.worker_image,
        "imagePullPolicy": settings.worker_image_pull_policy,
        "command": ["cienty"],
        "args": args,
        "env": [{"name": "CIENTY_LOG_FORMAT", "value": "json"}],
        "resources": {
            "requests": {"cpu": settings.job_cpu_request, "memory": settings.job_memory_request},
            "limits": {"cpu": settings.job_cpu_limit, "memory": settings.job_memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePath": REPORT_FILE,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    if env_from:
        container["envFrom"] = env_from
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(source, generation, sync),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": source,
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": settings.job_backoff_limit,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds_after_finished,
            "activeDeadlineSeconds": settings.job_active_deadline_seconds,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": settings.worker_service_account,
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


class JobState(enum.StrEnum):
    PENDING = "Pending"  # created, no pod running yet
    ACTIVE = "Active"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


def job_state(job: Mapping[str, Any]) -> JobState:
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState.SUCCEEDED
        if condition.get("type") == "Failed":
            return JobState.FAILED
    if status.get("active") or status.get("ready"):
        return JobState.ACTIVE
    return JobState.PENDING


def job_failure_reason(job: Mapping[str, Any]) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or ""
            return f"{reason}: {message}" if message else str(reason)
    return "Failed"


def job_generation(job: Mapping[str, Any]) -> int:
    return _int_label(job, GENERATION_LABEL)


def job_sync(job: Mapping[str, Any]) -> int:
    return _int_label(job, SYNC_LABEL)


def _int_label(job: Mapping[str, Any], label: str) -> int:
    value = ((job.get("metadata") or {}).get("labels") or {}).get(label, "")
    try:
        return int(value)
    except ValueError:
        return -1


def is_finished(job: Mapping[str, Any]) -> bool:
    return job_state(job) in (JobState.SUCCEEDED, JobState.FAILED)
