"""Pure functions: the Job manifest, status and conditions, the schedule, spec checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from cienty_knowledge_operator import jobs, schedule, status
from cienty_knowledge_operator.cli import operator
from cienty_knowledge_operator.settings import OperatorSettings
from cienty_knowledge_operator.validation import spec_problem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _body(spec: dict[str, Any], name: str = "faq", generation: int = 3) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kb", "generation": generation, "uid": "u-1"},
        "spec": spec,
    }


def test_job_names_are_deterministic_and_fit_a_label() -> None:
    assert jobs.job_name("faq", 3, 0) == "faq-g3-s0"
    long = jobs.job_name("a" * 80, 12, 345)
    assert len(long) <= 63
    assert long.endswith("-g12-s345")
    assert long == jobs.job_name("a" * 80, 12, 345)
    assert long != jobs.job_name("a" * 79 + "b", 12, 345)


def test_job_manifest_for_a_config_map_source() -> None:
    spec = {"source": {"configMap": {"name": "avisos"}}, "schedule": "@daily", "language": "pt"}
    settings = OperatorSettings(
        worker_image="img:1", job_backoff_limit=4, job_ttl_seconds_after_finished=60
    )
    job = jobs.build_job(_body(spec), 2, settings)
    assert job["metadata"]["name"] == "faq-g3-s2"
    assert job["metadata"]["labels"]["knowledge.cienty.io/sync"] == "2"
    assert job["spec"]["backoffLimit"] == 4
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"] == "2Gi"
    assert container["args"][-2:] == ["--report-file", "/dev/termination-log"]
    worker = json.loads(container["args"][5])
    assert worker == {
        "source": {"directory": {"path": "/var/run/cienty/source"}},
        "language": "pt",
    }
    assert {"name": "source", "configMap": {"name": "avisos"}} in pod["volumes"]
    assert any(m["mountPath"] == "/var/run/cienty/source" for m in container["volumeMounts"])


@pytest.mark.parametrize(
    ("job_status", "state"),
    [
        ({}, jobs.JobState.PENDING),
        ({"active": 1}, jobs.JobState.ACTIVE),
        ({"conditions": [{"type": "Complete", "status": "True"}]}, jobs.JobState.SUCCEEDED),
        ({"conditions": [{"type": "Failed", "status": "True"}]}, jobs.JobState.FAILED),
        (
            {"active": 1, "conditions": [{"type": "Failed", "status": "False"}]},
            jobs.JobState.ACTIVE,
        ),
    ],
)
def test_job_state(job_status: dict[str, Any], state: jobs.JobState) -> None:
    assert jobs.job_state({"status": job_status}) is state


def test_report_parsing_accepts_the_worker_json_only() -> None:
    assert status.parse_report('{"documents": 3, "chunks": 9}') == status.Report(3, 9, None)
    assert status.parse_report('{"documentCount": 1, "chunkCount": 2}') == status.Report(1, 2)
    worker = {
        "documents_seen": 5,
        "documents_total": 4,
        "chunks_added": 3,
        "chunks_total": 12,
        "documents_failed": [{"uri": "https://x/y", "reason": "404"}],
        "failures_left_out": 2,
    }
    assert status.parse_report(json.dumps(worker)) == status.Report(4, 12, None, 3)
    done = status.job_succeeded(
        {}, generation=1, job="j", report=status.Report(4, 12, None, 3), now=NOW
    )
    assert "4 documents, 12 chunks; 3 documents failed" in done["message"]
    assert status.parse_report('{"error": "boom"}') == status.Report(error="boom")
    assert status.parse_report("Traceback ...") is None
    assert status.parse_report("") is None


def test_condition_transition_time_moves_only_when_status_flips() -> None:
    first = status.set_condition(
        [], type_="Ready", status="False", reason="Syncing", message="", generation=1, now=NOW
    )
    later = NOW + timedelta(minutes=5)
    same = status.set_condition(
        first,
        type_="Ready",
        status="False",
        reason="JobRunning",
        message="x",
        generation=1,
        now=later,
    )
    flipped = status.set_condition(
        same, type_="Ready", status="True", reason="Synced", message="", generation=1, now=later
    )
    assert same[0]["lastTransitionTime"] == "2026-11-26T12:00:00Z"
    assert same[0]["reason"] == "JobRunning"
    assert flipped[0]["lastTransitionTime"] == "2026-11-26T12:05:00Z"


def test_status_lifecycle() -> None:
    created = status.job_created({}, generation=1, job="faq-g1-s0", sync=0, now=NOW)
    assert created["phase"] == "Pending"
    assert created["observedGeneration"] == 1
    running = status.job_running(created, generation=1, job="faq-g1-s0", now=NOW)
    assert running["phase"] == "Syncing"
    done = status.job_succeeded(
        {**created, **running},
        generation=1,
        job="faq-g1-s0",
        report=status.Report(4, 10),
        now=NOW,
    )
    assert (done["phase"], done["documentCount"], done["chunkCount"]) == ("Ready", 4, 10)
    conditions = {c["type"]: c["status"] for c in done["conditions"]}
    assert conditions == {"Ready": "True", "Synced": "True"}
    # A scheduled re-sync of the same generation keeps Ready=True.
    again = status.job_created({**created, **done}, generation=1, job="faq-g1-s1", sync=1, now=NOW)
    assert {c["type"]: c["status"] for c in again["conditions"]}["Ready"] == "True"
    # A new generation is not ready until its own sync finishes.
    changed = status.job_created(
        {**created, **done}, generation=2, job="faq-g2-s0", sync=0, now=NOW
    )
    assert {c["type"]: c["status"] for c in changed["conditions"]}["Ready"] == "False"
    failed = status.job_failed(
        changed,
        generation=2,
        job="faq-g2-s0",
        reason="BackoffLimitExceeded",
        detail="404",
        now=NOW,
    )
    assert failed["phase"] == "Failed"
    assert "404" in failed["message"]


def test_schedule() -> None:
    assert schedule.is_valid("0 3 * * *")
    assert schedule.is_valid("@daily")
    assert not schedule.is_valid("every day")
    assert schedule.next_sync("0 3 * * *", NOW) == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert not schedule.is_due("0 3 * * *", NOW, NOW + timedelta(hours=14))
    assert schedule.is_due("0 3 * * *", NOW, NOW + timedelta(hours=15))
    # Three missed days are one sync, not three: due is a yes/no.
    assert schedule.is_due("0 3 * * *", NOW, NOW + timedelta(days=3))


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"source": {"http": {"urls": ["https://x"]}}}, None),
        ({"source": {}}, "exactly one"),
        ({"source": {"http": {"urls": []}, "git": {"repository": "x"}}}, "exactly one"),
        ({"source": {"inline": {"documents": []}}, "schedule": "nope"}, "cron"),
        ({"source": {"inline": {}}, "chunking": {"maxTokens": 50, "overlapTokens": 50}}, "below"),
    ],
)
def test_spec_problems(spec: dict[str, Any], problem: str | None) -> None:
    found = spec_problem(spec)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_cli_is_a_click_command_with_namespace_options() -> None:
    result = CliRunner().invoke(operator, ["--help"])
    assert result.exit_code == 0
    assert "--namespace" in result.output
    assert "--all-namespaces" in result.output


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIENTY_OPERATOR_NAMESPACES", "kb, cienty")
    monkeypatch.setenv("CIENTY_WORKER_IMAGE", "ecr/knowledge:9")
    settings = OperatorSettings()
    assert settings.namespaces == ["kb", "cienty"]
    assert settings.worker_image == "ecr/knowledge:9"
