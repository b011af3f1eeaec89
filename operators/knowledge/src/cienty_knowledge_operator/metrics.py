"""Prometheus metrics of the operator (served by `cienty knowledge-operator` on a port)."""

from __future__ import annotations

from prometheus_client import Counter

RECONCILES = Counter(
    "cienty_knowledge_operator_reconciles_total",
    "Reconciliations of KnowledgeSources, by trigger and outcome.",
    ["trigger", "outcome"],
)
JOBS = Counter(
    "cienty_knowledge_operator_jobs_total",
    "Ingestion Jobs by event: created, existed (409), superseded, succeeded, failed.",
    ["event"],
)
FINALIZER = Counter(
    "cienty_knowledge_operator_finalizer_total",
    "Vector clean-ups of deleted KnowledgeSources, by outcome (deleted, store_error).",
    ["outcome"],
)
