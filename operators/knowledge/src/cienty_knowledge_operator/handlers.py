"""The Kopf handlers: reconcile each generation to one Job, follow Jobs, re-sync, clean up.

`register(registry, runtime)` wires them into a registry, so the CLI and the tests run the same
handlers with different dependencies (API client, vector store, clock, timer interval).
All status writes go through `Runtime.kube` (status subresource, merge patch) under a per-source
lock, in the order: status first (lastJob), then the Job, so a Job event always finds its Job
named in the status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from cienty_knowledge_operator import jobs, metrics, schedule, status
from cienty_knowledge_operator.constants import (
    ANNOTATION_PREFIX,
    DEFAULT_COLLECTION,
    FINALIZER,
    GROUP,
    JOB_NAME_LABEL,
    PLURAL,
    SOURCE_LABEL,
    VERSION,
)
from cienty_knowledge_operator.kube import Kube
from cienty_knowledge_operator.settings import OperatorSettings
from cienty_knowledge_operator.store import SourceDeleter, delete_source_vectors
from cienty_knowledge_operator.validation import spec_problem

_IN_PROGRESS = (status.Phase.PENDING.value, status.Phase.SYNCING.value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The operator's dependencies; the API client is opened in the operator's event loop."""

    settings: OperatorSettings
    kube_factory: Callable[[], Awaitable[Kube]]
    delete_vectors: SourceDeleter = delete_source_vectors
    clock: Callable[[], datetime] = _utcnow
    _kube: Kube | None = None
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            raise RuntimeError("the operator has not started: no Kubernetes client")
        return self._kube

    async def start(self) -> None:
        self._locks.clear()
        self._kube = await self.kube_factory()

    async def close(self) -> None:
        if self._kube is not None:
            await self._kube.close()
            self._kube = None

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((namespace, name), asyncio.Lock())


def _meta(body: Mapping[str, Any]) -> tuple[str, str, int]:
    meta = body["metadata"]
    return str(meta["name"]), str(meta["namespace"]), int(meta.get("generation") or 1)


async def _start_sync(
    runtime: Runtime,
    body: Mapping[str, Any],
    sync: int,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    name, namespace, generation = _meta(body)
    job = jobs.build_job(body, sync, runtime.settings)
    job_name = job["metadata"]["name"]
    current = body.get("status") or {}
    await runtime.kube.patch_source_status(
        namespace,
        name,
        status.job_created(
            current, generation=generation, job=job_name, sync=sync, now=runtime.clock()
        ),
    )
    created = await runtime.kube.create_job(namespace, job)
    metrics.JOBS.labels("created" if created else "existed").inc()
    logger.info(f"Ingestion Job {job_name} {'created' if created else 'already existed'}.")


async def reconcile(
    runtime: Runtime,
    body: Mapping[str, Any],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> str:
    """Exactly one Job for the current generation; active Jobs of older ones are deleted."""
    name, namespace, generation = _meta(body)
    if body["metadata"].get("deletionTimestamp"):
        return "deleting"
    kube = runtime.kube
    current = body.get("status") or {}
    existing = await kube.list_jobs(namespace, jobs.selector_for(name))
    for job in existing:
        if jobs.job_generation(job) != generation and not jobs.is_finished(job):
            await kube.delete_job(namespace, job["metadata"]["name"])
            metrics.JOBS.labels("superseded").inc()
            logger.info(f"Job {job['metadata']['name']} superseded by generation {generation}.")
    problem = spec_problem(body.get("spec") or {})
    if problem:
        await kube.patch_source_status(
            namespace,
            name,
            status.invalid_spec(
                current, generation=generation, problem=problem, now=runtime.clock()
            ),
        )
        return "invalid"
    same_generation = current.get("observedGeneration") == generation
    last_job = current.get("lastJob")
    names = {job["metadata"]["name"] for job in existing}
    if (
        same_generation
        and last_job
        and (last_job in names or current.get("phase") not in _IN_PROGRESS)
    ):
        return "unchanged"  # resumed or repeated: this generation's Job exists or finished
    sync = int(current.get("sync") or 0) if same_generation else 0
    await _start_sync(runtime, body, sync, logger)
    return "job_created"


def _termination_message(pod: Mapping[str, Any]) -> str:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        for key in ("state", "lastState"):
            terminated = (container.get(key) or {}).get("terminated") or {}
            if terminated.get("message"):
                return str(terminated["message"])
    return ""


async def _job_output(runtime: Runtime, namespace: str, job_name: str) -> tuple[str, str | None]:
    """(termination message, pod name) of the Job's newest pod."""
    pods = await runtime.kube.list_pods(namespace, f"{JOB_NAME_LABEL}={job_name}")
    pods.sort(key=lambda pod: str(pod["metadata"].get("creationTimestamp") or ""))
    for pod in reversed(pods):
        message = _termination_message(pod)
        if message:
            return message, pod["metadata"]["name"]
    return "", pods[-1]["metadata"]["name"] if pods else None


async def observe_job(
    runtime: Runtime,
    source: Mapping[str, Any],
    job: Mapping[str, Any],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Move the source's status along with its current Job; other Jobs are ignored."""
    name, namespace, generation = _meta(source)
    current = source.get("status") or {}
    job_name = job["metadata"]["name"]
    if source["metadata"].get("deletionTimestamp") or current.get("lastJob") != job_name:
        return
    if jobs.job_generation(job) != generation:
        return  # superseded: the new generation's Job takes over
    phase = current.get("phase")
    state = jobs.job_state(job)
    now = runtime.clock()
    patch: dict[str, Any] | None = None
    if state is jobs.JobState.ACTIVE and phase == status.Phase.PENDING.value:
        patch = status.job_running(current, generation=generation, job=job_name, now=now)
    elif state is jobs.JobState.SUCCEEDED and phase in _IN_PROGRESS:
        message, _ = await _job_output(runtime, namespace, job_name)
        report = status.parse_report(message)
        patch = status.job_succeeded(
            current, generation=generation, job=job_name, report=report, now=now
        )
        patch["collections"] = await _forget_old_collections(runtime, source, logger)
        metrics.JOBS.labels("succeeded").inc()
    elif state is jobs.JobState.FAILED and phase in _IN_PROGRESS:
        message, pod = await _job_output(runtime, namespace, job_name)
        report = status.parse_report(message)
        detail = report.error if report and report.error else message
        if not detail and pod:
            detail = await runtime.kube.read_pod_log(namespace, pod, tail_lines=20)
        patch = status.job_failed(
            current,
            generation=generation,
            job=job_name,
            reason=jobs.job_failure_reason(job),
            detail=status.shorten(detail, 600),
            now=now,
        )
        metrics.JOBS.labels("failed").inc()
    if patch is not None:
        await runtime.kube.patch_source_status(namespace, name, patch)
        logger.info(f"{name}: {patch['message']}")


def _collection(body: Mapping[str, Any]) -> str:
    return str((body.get("spec") or {}).get("collection") or DEFAULT_COLLECTION)


def _collections(body: Mapping[str, Any]) -> list[str]:
    """Every collection that may hold the source's vectors: the spec's, and those recorded."""
    recorded = [str(c) for c in (body.get("status") or {}).get("collections") or []]
    return list(dict.fromkeys([_collection(body), *recorded]))


async def _forget_old_collections(
    runtime: Runtime,
    body: Mapping[str, Any],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> list[str]:
    """After a sync into the spec's collection succeeded, empty the source out of the
    collections it used before; those that cannot be emptied now stay recorded for later
    (and for the finalizer)."""
    name = body["metadata"]["name"]
    current, *old = _collections(body)
    remaining = [current]
    for collection in old:
        try:
            removed = await runtime.delete_vectors(collection, name)
        except Exception as error:
            logger.warning(f"{name}: cannot empty old collection {collection} yet: {error}")
            remaining.append(collection)
            continue
        logger.info(f"{name}: removed {removed} chunks from old collection {collection}")
    return remaining


async def resync(
    runtime: Runtime,
    name: str,
    namespace: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> str:
    """The timer: catch up with the current Job (if an event was missed), then start the next
    scheduled sync when the cron is due and no Job of the source is running."""
    kube = runtime.kube
    body = await kube.get_source(namespace, name)  # fresher than the timer's cached body
    if body is None or body["metadata"].get("deletionTimestamp"):
        return "gone"
    _, _, generation = _meta(body)
    current = body.get("status") or {}
    last_job = current.get("lastJob")
    if last_job and current.get("phase") in _IN_PROGRESS:
        job = await kube.get_job(namespace, str(last_job))
        if job is not None:
            await observe_job(runtime, body, job, logger)
        return "observed"
    cron = (body.get("spec") or {}).get("schedule")
    if not cron or not schedule.is_valid(str(cron)) or not last_job:
        return "unscheduled"
    if current.get("observedGeneration") != generation:
        return "reconciling"
    since = status.parse_timestamp(current.get("lastScheduleTime")) or status.parse_timestamp(
        body["metadata"].get("creationTimestamp")
    )
    if since is None or not schedule.is_due(str(cron), since, runtime.clock()):
        return "not_due"
    running = [
        j
        for j in await kube.list_jobs(namespace, jobs.selector_for(name))
        if not jobs.is_finished(j)
    ]
    if running:
        return "busy"
    await _start_sync(runtime, body, int(current.get("sync") or 0) + 1, logger)
    return "scheduled"


async def remove_vectors(
    runtime: Runtime,
    body: Mapping[str, Any],
    retry: int,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """The finalizer: stop ingestion, then delete the source's vectors; retry while the store
    is unreachable (the resource stays, its status says why)."""
    name, namespace, generation = _meta(body)
    kube = runtime.kube
    collections = _collections(body)
    collection = ("collection " if len(collections) == 1 else "collections ") + ", ".join(
        collections
    )
    current = body.get("status") or {}
    # A running Job could write vectors back after the clean-up: stop it first.
    for job in await kube.list_jobs(namespace, jobs.selector_for(name)):
        if not jobs.is_finished(job):
            await kube.delete_job(namespace, job["metadata"]["name"])
    await kube.patch_source_status(
        namespace,
        name,
        status.deleting(
            current,
            generation=generation,
            message=f"Removing the vectors of {name} from {collection}.",
            now=runtime.clock(),
        ),
    )
    try:
        removed = 0
        for target in collections:  # deleting twice is harmless: the retry may repeat one
            removed += await runtime.delete_vectors(target, name)
    except Exception as error:
        metrics.FINALIZER.labels("store_error").inc()
        settings = runtime.settings
        delay = min(
            settings.finalizer_retry_seconds * 2**retry, settings.finalizer_retry_max_seconds
        )
        message = status.shorten(
            f"Cannot remove the vectors of {name} from {collection}: "
            f"{type(error).__name__}: {error}. Retrying in {delay:.0f}s (attempt {retry + 1}); the "
            "resource is deleted once the vector store answers. Check the store "
            "(CIENTY_DATABASE_URL / CIENTY_WEAVIATE_URL), or drop the resource without clean-up: "
            f"kubectl patch knowledgesource {name} --type merge "
            '-p \'{"metadata":{"finalizers":[]}}\'.'
        )
        await kube.patch_source_status(
            namespace,
            name,
            status.deleting(current, generation=generation, message=message, now=runtime.clock()),
        )
        raise kopf.TemporaryError(message, delay=delay) from error
    metrics.FINALIZER.labels("deleted").inc()
    logger.info(f"Removed {removed} chunks of {name} from {collection}.")


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    """Wire the handlers into `registry`, bound to `runtime`."""
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=ANNOTATION_PREFIX
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 310
        settings.watching.connect_timeout = 30
        await runtime.start()

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await runtime.close()

    @kopf.on.resume(*resource, registry=registry, id="reconcile")
    @kopf.on.create(*resource, registry=registry, id="reconcile")
    @kopf.on.update(*resource, field="spec", registry=registry, id="reconcile")
    async def on_change(body: kopf.Body, reason: str, logger: kopf.Logger, **_: Any) -> None:
        name, namespace, _generation = _meta(body)
        async with runtime.lock(namespace, name):
            try:
                outcome = await reconcile(runtime, body, logger)
            except Exception:
                metrics.RECONCILES.labels(str(reason), "error").inc()
                raise
        metrics.RECONCILES.labels(str(reason), outcome).inc()

    @kopf.on.event("batch", "v1", "jobs", labels={SOURCE_LABEL: kopf.PRESENT}, registry=registry)
    async def on_job(
        body: kopf.Body, event: kopf.RawEvent, namespace: str | None, logger: kopf.Logger, **_: Any
    ) -> None:
        if event.get("type") == "DELETED" or not namespace:
            return
        source_name = str(body["metadata"]["labels"][SOURCE_LABEL])
        async with runtime.lock(namespace, source_name):
            source = await runtime.kube.get_source(namespace, source_name)
            if source is not None:
                await observe_job(runtime, source, body, logger)

    @kopf.timer(
        *resource,
        registry=registry,
        id="resync",
        interval=runtime.settings.resync_check_seconds,
        initial_delay=runtime.settings.resync_check_seconds,
    )
    async def on_timer(name: str, namespace: str | None, logger: kopf.Logger, **_: Any) -> None:
        if not namespace:
            return
        async with runtime.lock(namespace, name):
            await resync(runtime, name, namespace, logger)

    @kopf.on.delete(*resource, registry=registry, id="remove-vectors")
    async def on_delete(body: kopf.Body, retry: int, logger: kopf.Logger, **_: Any) -> None:
        name, namespace, _generation = _meta(body)
        async with runtime.lock(namespace, name):
            await remove_vectors(runtime, body, retry, logger)
