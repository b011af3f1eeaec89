"""The real operator (Kopf + handlers) against the API stand-in: Jobs, status, finalizer."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from tests.operator.conftest import Operator
from tests.operator.fake_kube import wait_for

SPEC: dict[str, Any] = {
    "source": {"http": {"urls": ["https://cienty.com.br/ajuda/entrega"]}},
    "chunking": {"maxTokens": 200, "overlapTokens": 40},
    "collection": "cienty_knowledge",
    "language": "pt",
}


def _phase(operator: Operator, name: str) -> str | None:
    source = operator.fake.source(name)
    return ((source or {}).get("status") or {}).get("phase")


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _job_posts(operator: Operator) -> int:
    return sum(
        1
        for method, path in operator.fake.requests
        if method == "POST" and path.startswith("/apis/batch/v1/namespaces/default/jobs")
    )


def test_create_makes_one_job_even_across_restarts(operator: Operator) -> None:
    fake = operator.fake
    jobs_created = _metric("cienty_knowledge_operator_jobs_total", event="created")
    created = fake.create_source("faq", SPEC)
    with operator.run():
        jobs = wait_for(fake.jobs, message="the first Job")
        wait_for(lambda: _phase(operator, "faq") == "Pending", message="Pending")
    assert [job["metadata"]["name"] for job in jobs] == ["faq-g1-s0"]
    job = jobs[0]
    owner = job["metadata"]["ownerReferences"][0]
    assert owner["uid"] == created["metadata"]["uid"]
    assert owner["kind"] == "KnowledgeSource"
    assert owner["controller"] is True
    labels = job["metadata"]["labels"]
    assert labels["knowledge.cienty.io/source"] == "faq"
    assert labels["knowledge.cienty.io/generation"] == "1"
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/cienty/knowledge:test"
    assert pod["serviceAccountName"] == "knowledge-worker"
    assert container["args"][:4] == ["kb", "ingest", "--source-name", "faq"]
    assert json.loads(container["args"][5]) == SPEC
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    status = fake.source("faq")["status"]  # type: ignore[index]
    assert status["lastJob"] == "faq-g1-s0"
    assert status["observedGeneration"] == 1
    assert "kopf" not in json.dumps(status)  # no handler results leak into the status

    # A restarted operator resumes the object and must not start a second Job; it still
    # follows the existing one.
    with operator.run():
        fake.run_job("faq-g1-s0")
        wait_for(lambda: _phase(operator, "faq") == "Syncing", message="Syncing")
    assert [job["metadata"]["name"] for job in fake.jobs()] == ["faq-g1-s0"]
    assert _job_posts(operator) == 1
    created_now = _metric("cienty_knowledge_operator_jobs_total", event="created")
    assert created_now - jobs_created == 1


def test_succeeded_job_makes_the_source_ready_with_counts(operator: Operator) -> None:
    fake = operator.fake
    fake.create_source("faq", SPEC)
    with operator.run():
        wait_for(fake.jobs, message="the Job")
        fake.run_job("faq-g1-s0")
        wait_for(lambda: _phase(operator, "faq") == "Syncing", message="Syncing")
        report = {"documents_seen": 2, "documents_total": 2, "chunks_total": 7, "chunks_added": 7}
        fake.finish_job("faq-g1-s0", succeeded=True, message=json.dumps(report))
        wait_for(lambda: _phase(operator, "faq") == "Ready", message="Ready")
    status = fake.source("faq")["status"]  # type: ignore[index]
    assert status["documentCount"] == 2
    assert status["chunkCount"] == 7
    assert status["lastSyncTime"].endswith("Z")
    assert "2 documents, 7 chunks" in status["message"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Synced"]["status"] == "True"
    assert conditions["Synced"]["reason"] == "JobSucceeded"
    assert conditions["Ready"]["observedGeneration"] == 1


def test_failed_job_makes_the_source_failed_with_the_reason(operator: Operator) -> None:
    fake = operator.fake
    fake.create_source("faq", SPEC)
    fake.create_source("manual", SPEC)
    with operator.run():
        wait_for(lambda: len(fake.jobs()) == 2, message="two Jobs")
        report = {"error": "GET https://cienty.com.br/ajuda/entrega answered 404"}
        fake.finish_job("faq-g1-s0", succeeded=False, message=json.dumps(report))
        # The worker crashed before writing its report: the log tail explains.
        fake.finish_job(
            "manual-g1-s0",
            succeeded=False,
            message="",
            log="Traceback (most recent call last):\nRuntimeError: embedding server down",
        )
        wait_for(lambda: _phase(operator, "faq") == "Failed", message="faq Failed")
        wait_for(lambda: _phase(operator, "manual") == "Failed", message="manual Failed")
    faq = fake.source("faq")["status"]  # type: ignore[index]
    assert "answered 404" in faq["message"]
    assert "BackoffLimitExceeded" in faq["message"]
    assert "kubectl logs job/faq-g1-s0" in faq["message"]
    ready = next(c for c in faq["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "JobFailed")
    manual = fake.source("manual")["status"]  # type: ignore[index]
    assert "embedding server down" in manual["message"]


def test_spec_change_supersedes_the_running_job(operator: Operator) -> None:
    fake = operator.fake
    fake.create_source("faq", SPEC)
    with operator.run():
        wait_for(fake.jobs, message="the first Job")
        fake.run_job("faq-g1-s0")
        wait_for(lambda: _phase(operator, "faq") == "Syncing", message="Syncing")
        new_urls = ["https://cienty.com.br/ajuda/devolucao"]
        fake.patch_source("faq", {"spec": {"source": {"http": {"urls": new_urls}}}})
        jobs = wait_for(
            lambda: [j["metadata"]["name"] for j in fake.jobs()] == ["faq-g2-s0"] and fake.jobs(),
            message="only the generation-2 Job",
        )
        wait_for(
            lambda: (fake.source("faq") or {}).get("status", {}).get("lastJob") == "faq-g2-s0",
            message="status naming the new Job",
        )
    assert ("jobs", "faq-g1-s0", "Background") in fake.deletions
    spec = json.loads(jobs[0]["spec"]["template"]["spec"]["containers"][0]["args"][5])
    assert spec["source"]["http"]["urls"] == new_urls
    assert fake.source("faq")["status"]["observedGeneration"] == 2  # type: ignore[index]


def test_delete_removes_the_vectors_then_the_resource(operator: Operator) -> None:
    fake = operator.fake
    deleted = _metric("cienty_knowledge_operator_finalizer_total", outcome="deleted")
    fake.create_source("faq", {**SPEC, "collection": "faq_docs"})
    with operator.run():
        wait_for(fake.jobs, message="the Job")
        fake.delete_source("faq")
        wait_for(lambda: fake.source("faq") is None, message="the resource to go")
    assert operator.store.calls == [("faq_docs", "faq")]
    assert fake.jobs() == []  # owned Jobs are garbage-collected with their source
    after = _metric("cienty_knowledge_operator_finalizer_total", outcome="deleted")
    assert after - deleted == 1


def test_unreachable_store_keeps_the_resource_and_says_why(operator: Operator) -> None:
    fake = operator.fake
    store_errors = _metric("cienty_knowledge_operator_finalizer_total", outcome="store_error")
    operator.store.down = True
    fake.create_source("faq", SPEC)
    with operator.run():
        wait_for(fake.jobs, message="the Job")
        fake.delete_source("faq")
        wait_for(lambda: operator.store.failures >= 2, message="a retried clean-up")
        wait_for(
            lambda: (
                _metric("cienty_knowledge_operator_finalizer_total", outcome="store_error")
                - store_errors
                >= 2
            ),
            message="the failed clean-ups counted",
        )
        source = fake.source("faq")
        assert source is not None
        assert source["metadata"].get("deletionTimestamp")
        status = source["status"]
        assert status["phase"] == "Deleting"
        assert "Cannot remove the vectors of faq" in status["message"]
        assert "connect to 10.0.0.7:5432 refused" in status["message"]
        operator.store.down = False
        wait_for(lambda: fake.source("faq") is None, message="the resource to go")
    assert operator.store.calls == [("cienty_knowledge", "faq")]


def test_schedule_starts_the_next_sync_when_due_never_two_at_once(operator: Operator) -> None:
    fake = operator.fake
    fake.create_source("faq", {**SPEC, "schedule": "*/5 * * * *"})
    report = json.dumps({"documents": 1, "chunks": 2})
    with operator.run():
        wait_for(fake.jobs, message="the first Job")
        fake.finish_job("faq-g1-s0", succeeded=True, message=report)
        wait_for(lambda: _phase(operator, "faq") == "Ready", message="Ready")
        operator.clock.advance(timedelta(minutes=6))  # past the next */5 fire time
        wait_for(
            lambda: fake.get("/apis/batch/v1", "jobs", "default", "faq-g1-s1"),
            message="the scheduled Job",
        )
        source = wait_for(
            lambda: (s := fake.source("faq")) and s["status"].get("lastJob") == "faq-g1-s1" and s
        )
        # A re-sync of an unchanged spec keeps serving: still Ready=True while it runs.
        ready = next(c for c in source["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        operator.clock.advance(timedelta(minutes=6))  # due again, but s1 still runs
        time.sleep(3)  # three timer ticks
        assert sorted(j["metadata"]["name"] for j in fake.jobs()) == ["faq-g1-s0", "faq-g1-s1"]
        fake.finish_job("faq-g1-s1", succeeded=True, message=report)
        wait_for(
            lambda: fake.get("/apis/batch/v1", "jobs", "default", "faq-g1-s2"),
            message="the next scheduled Job once s1 finished",
        )


def _sync(operator: Operator, job: str) -> None:
    """Runs the Job to success, and waits for the source to be Ready with it."""
    fake = operator.fake
    wait_for(lambda: job in [j["metadata"]["name"] for j in fake.jobs()], message=job)
    fake.run_job(job)
    wait_for(lambda: _phase(operator, "faq") == "Syncing", message="Syncing")
    report = {"documents_total": 1, "chunks_total": 3}
    fake.finish_job(job, succeeded=True, message=json.dumps(report))
    wait_for(
        lambda: (
            _phase(operator, "faq") == "Ready"
            and (fake.source("faq") or {}).get("status", {}).get("lastJob") == job
        ),
        message=f"Ready after {job}",
    )


def test_a_new_collection_empties_the_old_one_and_the_finalizer_cleans_every_one(
    operator: Operator,
) -> None:
    fake = operator.fake
    fake.create_source("faq", {**SPEC, "collection": "old_docs"})
    with operator.run():
        _sync(operator, "faq-g1-s0")
        assert fake.source("faq")["status"]["collections"] == ["old_docs"]  # type: ignore[index]
        assert operator.store.calls == []

        # The store is down when the sync into the new collection succeeds: the old one stays
        # recorded, so nothing is forgotten.
        operator.store.down = True
        fake.patch_source("faq", {"spec": {"collection": "new_docs"}})
        _sync(operator, "faq-g2-s0")
        status = fake.source("faq")["status"]  # type: ignore[index]
        assert status["collections"] == ["new_docs", "old_docs"]

        # The next successful sync empties the old collection.
        operator.store.down = False
        fake.patch_source("faq", {"spec": {"language": "pt-BR"}})
        _sync(operator, "faq-g3-s0")
        assert operator.store.calls == [("old_docs", "faq")]
        assert fake.source("faq")["status"]["collections"] == ["new_docs"]  # type: ignore[index]

        fake.delete_source("faq")
        wait_for(lambda: fake.source("faq") is None, message="the resource to go")
    assert operator.store.calls == [("old_docs", "faq"), ("new_docs", "faq")]
