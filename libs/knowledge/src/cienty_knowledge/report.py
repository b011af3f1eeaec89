"""What one ingestion run did, as the CLI prints it and the operator reads it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Kubernetes keeps at most 4096 bytes of a container's termination message.
TERMINATION_MESSAGE_BYTES = 4096
_REASON_CHARS = 300


@dataclass(frozen=True)
class FailedDocument:
    uri: str
    reason: str


@dataclass
class IngestReport:
    source: str
    collection: str
    model: str = ""
    dimensions: int = 0
    documents_seen: int = 0  # what the source listed (after include/exclude)
    documents_ingested: int = 0  # new or changed: chunks embedded and/or deleted
    documents_unchanged: int = 0  # nothing embedded, nothing written
    # Documents that left the source (their chunks were deleted); None when the store cannot
    # list a source's documents (chunks_deleted still counts their chunks).
    documents_removed: int | None = None
    documents_failed: list[FailedDocument] = field(default_factory=list)
    documents_total: int = 0  # documents with chunks in the store after the run
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_total: int = 0  # the source's chunks in the store after the run
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["documents_failed"] = [
            {"uri": f.uri, "reason": f.reason[:_REASON_CHARS]} for f in self.documents_failed
        ]
        return data

    def to_json(self, *, max_bytes: int | None = None, indent: int | None = None) -> str:
        """JSON; with `max_bytes`, failures are left out from the end (counted in
        `failures_left_out`) until it fits, e.g. into a termination message."""
        data = self.to_dict()
        text = json.dumps(data, ensure_ascii=False, indent=indent)
        if max_bytes is None or len(text.encode()) <= max_bytes:
            return text
        failures: list[dict[str, str]] = data.pop("documents_failed")
        keep = len(failures)
        while True:
            keep -= 1 if keep > 0 else 0
            data["documents_failed"] = failures[:keep]
            data["failures_left_out"] = len(failures) - keep
            text = json.dumps(data, ensure_ascii=False, indent=indent)
            if keep == 0 or len(text.encode()) <= max_bytes:
                return text
