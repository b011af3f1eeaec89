"""Prometheus metrics of the LLM client (exported by the process that uses it)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "cienty_llm_requests_total",
    "Attempts at a provider, by outcome (ok, or the failure reason).",
    ["provider", "outcome"],
)
LATENCY = Histogram(
    "cienty_llm_request_seconds",
    "Time for a provider to give a whole answer (successful attempts).",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "cienty_llm_time_to_first_token_seconds",
    "Time from sending a request to the provider's first token.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0),
)
TOKENS = Counter(
    "cienty_llm_tokens_total",
    "Tokens billed by providers, by direction (input or output).",
    ["provider", "direction"],
)
COST = Counter(
    "cienty_llm_cost_usd_total",
    "Spend in US dollars, from the configured per-token prices.",
    ["provider"],
)
FALLBACKS = Counter(
    "cienty_llm_fallbacks_total",
    "Requests passed from one provider to the next, by the reason the first one failed.",
    ["from_provider", "to_provider", "reason"],
)
UNAVAILABLE = Counter(
    "cienty_llm_unavailable_total",
    "Requests that no provider could answer (the conversation goes to a person).",
)
BREAKER_STATE = Gauge(
    "cienty_llm_circuit_breaker_state",
    "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
    ["provider"],
)
TOOL_CALL_FIXES = Counter(
    "cienty_llm_tool_call_fixes_total",
    "Tool calls whose arguments needed help: repaired, reasked, or invalid (given up).",
    ["provider", "outcome"],
)
