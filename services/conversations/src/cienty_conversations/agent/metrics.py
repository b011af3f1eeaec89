"""Prometheus metrics of the agent."""

from __future__ import annotations

from prometheus_client import Counter

TURNS = Counter(
    "cienty_agent_turns_total",
    "Customer turns the agent handled, by outcome (answered, handover, or a failure kind).",
    ["outcome"],
)
TOOL_CALLS = Counter(
    "cienty_agent_tool_calls_total",
    "Tool calls the model made, by tool and outcome.",
    ["tool", "outcome"],
)
UNGROUNDED = Counter(
    "cienty_agent_ungrounded_answers_total",
    "Answers that stated amounts no tool gave (each is re-asked once, then refused).",
)
