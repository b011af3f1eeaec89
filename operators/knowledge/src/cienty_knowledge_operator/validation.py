"""Checks the operator repeats from the CRD schema, for clusters or paths that skip it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cienty_knowledge_operator import schedule

SOURCE_KINDS = ("http", "s3", "git", "configMap", "inline")


def spec_problem(spec: Mapping[str, Any]) -> str | None:
    """What is wrong with a KnowledgeSource spec, in words a person can act on; None if fine."""
    source = spec.get("source") or {}
    kinds = [kind for kind in SOURCE_KINDS if source.get(kind) is not None]
    if len(kinds) != 1:
        return (
            f"spec.source must set exactly one of {', '.join(SOURCE_KINDS)} "
            f"(found {', '.join(kinds) or 'none'})"
        )
    cron = spec.get("schedule")
    if cron and not schedule.is_valid(str(cron)):
        return f"spec.schedule {cron!r} is not a cron expression (e.g. '0 3 * * *')"
    chunking = spec.get("chunking") or {}
    max_tokens = int(chunking.get("maxTokens", 200))
    # As the CRD's CEL rule: only an overlap that is given is checked (the worker caps its
    # default overlap at half of maxTokens).
    overlap = int(chunking.get("overlapTokens", 0))
    if "overlapTokens" in chunking and overlap >= max_tokens:
        return f"spec.chunking.overlapTokens ({overlap}) must be below maxTokens ({max_tokens})"
    return None
