"""What the status of a KnowledgeSource says: phase, conditions, counts, a message to act on.

Every function returns the full `status` object to merge-patch; conditions are a list, which a
merge patch replaces whole, so they are always computed from the current ones (keeping each
condition's lastTransitionTime while its status does not flip).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_MESSAGE_LIMIT = 1024


class Phase(enum.StrEnum):
    PENDING = "Pending"
    SYNCING = "Syncing"
    READY = "Ready"
    FAILED = "Failed"
    DELETING = "Deleting"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Report:
    """What the worker writes to its termination message (`--report-file`)."""

    documents: int | None = None
    chunks: int | None = None
    error: str | None = None
    failed_documents: int = 0


def _first_int(data: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def parse_report(text: str | None) -> Report | None:
    """The worker's JSON report; None when the message is not one (e.g. log lines that the
    kubelet used instead because the worker crashed before writing it)."""
    if not text:
        return None
    try:
        data = json.loads(text.strip())
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    failed = data.get("documents_failed")
    # cienty_knowledge.report.IngestReport: documents_total / chunks_total are the source's
    # totals in the store after the run; the short spellings are accepted too.
    return Report(
        documents=_first_int(data, "documents_total", "documents", "documentCount"),
        chunks=_first_int(data, "chunks_total", "chunks", "chunkCount"),
        error=str(error) if error else None,
        failed_documents=len(failed) + int(data.get("failures_left_out") or 0)
        if isinstance(failed, list)
        else 0,
    )


def shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """The conditions with `type_` replaced; lastTransitionTime moves only when status flips."""
    previous = next((c for c in conditions if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != status
    transition = (
        timestamp(now) if previous is None or changed else str(previous.get("lastTransitionTime"))
    )
    updated = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    result = [dict(c) for c in conditions if c.get("type") != type_]
    result.append(updated)
    return sorted(result, key=lambda c: str(c["type"]))


def _conditions(
    current: Mapping[str, Any],
    generation: int,
    now: datetime,
    *,
    ready: tuple[str, str, str],
    synced: tuple[str, str, str],
) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = list(current.get("conditions") or [])
    for type_, (status, reason, message) in (("Ready", ready), ("Synced", synced)):
        conditions = set_condition(
            conditions,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        )
    return conditions


def _still_ready(current: Mapping[str, Any], generation: int) -> bool:
    """A scheduled re-sync of an unchanged spec keeps serving the previous sync's vectors."""
    ready = next((c for c in current.get("conditions") or [] if c.get("type") == "Ready"), None)
    return bool(
        ready and ready.get("status") == "True" and ready.get("observedGeneration") == generation
    )


def job_created(
    current: Mapping[str, Any], *, generation: int, job: str, sync: int, now: datetime
) -> dict[str, Any]:
    message = f"Ingestion Job {job} created; waiting for it to start."
    ready = (
        ("True", "PreviousSyncReady", "The previous sync's documents are served.")
        if _still_ready(current, generation)
        else ("False", "Syncing", message)
    )
    return {
        "phase": Phase.PENDING.value,
        "observedGeneration": generation,
        "lastJob": job,
        "sync": sync,
        "lastScheduleTime": timestamp(now),
        "message": message,
        "conditions": _conditions(
            current, generation, now, ready=ready, synced=("False", "JobPending", message)
        ),
    }


def job_running(
    current: Mapping[str, Any], *, generation: int, job: str, now: datetime
) -> dict[str, Any]:
    message = f"Ingestion Job {job} is running (kubectl logs job/{job} -f)."
    ready = (
        ("True", "PreviousSyncReady", "The previous sync's documents are served.")
        if _still_ready(current, generation)
        else ("False", "Syncing", message)
    )
    return {
        "phase": Phase.SYNCING.value,
        "message": message,
        "conditions": _conditions(
            current, generation, now, ready=ready, synced=("False", "JobRunning", message)
        ),
    }


def job_succeeded(
    current: Mapping[str, Any],
    *,
    generation: int,
    job: str,
    report: Report | None,
    now: datetime,
) -> dict[str, Any]:
    documents = report.documents if report else None
    chunks = report.chunks if report else None
    counts = (
        f"{documents} documents, {chunks} chunks"
        if documents is not None and chunks is not None
        else "the worker wrote no report, counts unknown"
    )
    failed = report.failed_documents if report else 0
    warning = f"; {failed} documents failed (kubectl logs job/{job})" if failed else ""
    message = f"Synced by Job {job}: {counts}{warning}."
    return {
        "phase": Phase.READY.value,
        "lastSyncTime": timestamp(now),
        "documentCount": documents,
        "chunkCount": chunks,
        "message": message,
        "conditions": _conditions(
            current,
            generation,
            now,
            ready=("True", "Synced", message),
            synced=("True", "JobSucceeded", message),
        ),
    }


def job_failed(
    current: Mapping[str, Any],
    *,
    generation: int,
    job: str,
    reason: str,
    detail: str,
    now: datetime,
) -> dict[str, Any]:
    message = shorten(
        f"Ingestion Job {job} failed ({reason}): {detail or 'no message'}. "
        f"Fix the spec or the source and edit the resource to retry; logs: kubectl logs job/{job}."
    )
    return {
        "phase": Phase.FAILED.value,
        "message": message,
        "conditions": _conditions(
            current,
            generation,
            now,
            ready=("False", "JobFailed", message),
            synced=("False", "JobFailed", message),
        ),
    }


def invalid_spec(
    current: Mapping[str, Any], *, generation: int, problem: str, now: datetime
) -> dict[str, Any]:
    message = f"Invalid spec: {problem}. Edit the resource to fix it."
    return {
        "phase": Phase.FAILED.value,
        "observedGeneration": generation,
        "message": message,
        "conditions": _conditions(
            current,
            generation,
            now,
            ready=("False", "InvalidSpec", message),
            synced=("False", "InvalidSpec", message),
        ),
    }


def deleting(
    current: Mapping[str, Any], *, generation: int, message: str, now: datetime
) -> dict[str, Any]:
    return {
        "phase": Phase.DELETING.value,
        "message": message,
        "conditions": _conditions(
            current,
            generation,
            now,
            ready=("False", "Deleting", message),
            synced=(
                str(
                    next(
                        (
                            c.get("status")
                            for c in current.get("conditions") or []
                            if c.get("type") == "Synced"
                        ),
                        "Unknown",
                    )
                ),
                "Deleting",
                message,
            ),
        ),
    }
