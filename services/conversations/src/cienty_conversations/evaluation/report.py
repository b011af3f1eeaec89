"""The metrics of a run, computed from the recorded turns, as a table and as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cienty_conversations.evaluation.grounding import grounding_rate
from cienty_conversations.evaluation.runner import RunInfo, ScenarioResult, TurnRecord


@dataclass(frozen=True)
class Metrics:
    scenarios: int
    resolved: int
    resolution_rate: float | None
    tool_turns: int  # turns that state tools, tools_any or forbidden_tools
    tool_turns_correct: int
    correct_tool_rate: float | None
    handovers_true: int
    handovers_false: int  # handed over without being expected to
    handovers_missed: int  # expected, not done
    handover_precision: float | None
    handover_recall: float | None
    answers: int
    answers_with_facts: int
    grounding: float | None
    facts: int
    ungrounded_facts: tuple[str, ...]
    isolation_violations: int
    turns: int
    model_turns: int
    model_calls: int
    model_calls_per_turn: float | None
    model_calls_per_model_turn: float | None
    mean_turn_seconds: float | None
    max_turn_seconds: float | None
    mean_model_call_seconds: float | None
    input_tokens: int
    output_tokens: int


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compute_metrics(results: Sequence[ScenarioResult]) -> Metrics:
    turns: list[TurnRecord] = [turn for result in results for turn in result.turns]
    tool_turns = [turn for turn in turns if turn.tools_checked]
    decided = [turn for turn in turns if turn.bot_in_charge]
    true_positive = sum(t.handed_over and t.handover_expected for t in decided)
    false_positive = sum(t.handed_over and not t.handover_expected for t in decided)
    false_negative = sum(not t.handed_over and t.handover_expected for t in decided)
    checks = [check for turn in turns for check in turn.answers]
    grounding, factual = grounding_rate(checks)
    model_turns = [turn for turn in turns if turn.model_calls]
    model_calls = sum(turn.model_calls for turn in turns)
    return Metrics(
        scenarios=len(results),
        resolved=sum(result.resolved for result in results),
        resolution_rate=_share(sum(result.resolved for result in results), len(results)),
        tool_turns=len(tool_turns),
        tool_turns_correct=sum(turn.tools_ok for turn in tool_turns),
        correct_tool_rate=_share(sum(turn.tools_ok for turn in tool_turns), len(tool_turns)),
        handovers_true=true_positive,
        handovers_false=false_positive,
        handovers_missed=false_negative,
        handover_precision=_share(true_positive, true_positive + false_positive),
        handover_recall=_share(true_positive, true_positive + false_negative),
        answers=len(checks),
        answers_with_facts=factual,
        grounding=grounding,
        facts=sum(len(check.facts) for check in checks),
        ungrounded_facts=tuple(fact for check in checks for fact in check.ungrounded),
        isolation_violations=sum(len(result.isolation_violations) for result in results),
        turns=len(turns),
        model_turns=len(model_turns),
        model_calls=model_calls,
        model_calls_per_turn=_share(model_calls, len(turns)),
        model_calls_per_model_turn=_share(model_calls, len(model_turns)),
        mean_turn_seconds=_mean([turn.seconds for turn in turns]),
        max_turn_seconds=max((turn.seconds for turn in turns), default=None),
        mean_model_call_seconds=_share_float(
            sum(turn.model_seconds for turn in turns), model_calls
        ),
        input_tokens=sum(turn.input_tokens for turn in turns),
        output_tokens=sum(turn.output_tokens for turn in turns),
    )


def model_never_answered(results: Sequence[ScenarioResult]) -> bool:
    """Every turn that asked the model ended with it unavailable: a wrong URL or model name,
    or a server that is down, rather than an agent to grade."""
    asked = [turn for result in results for turn in result.turns if turn.model_calls]
    return bool(asked) and all(turn.handover_reason == "llm_unavailable" for turn in asked)


def _share_float(total: float, count: int) -> float | None:
    return total / count if count else None


# ---------------------------------------------------------------------------------- JSON
def report_json(info: RunInfo, results: Sequence[ScenarioResult]) -> dict[str, Any]:
    metrics = compute_metrics(results)
    return {
        "run": {
            "model": info.model,
            "llm_url": info.llm_url,
            "scenarios_dir": info.scenarios_dir,
            "started_at": info.started_at.isoformat(),
            "seconds": round(info.seconds, 3),
        },
        "metrics": {
            key: list(value) if isinstance(value, tuple) else _round(value)
            for key, value in metrics.__dict__.items()
        },
        "scenarios": [_scenario_json(result) for result in results],
    }


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _scenario_json(result: ScenarioResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "description": result.description,
        "tags": list(result.tags),
        "sender": result.sender,
        "resolved": result.resolved,
        "conversation_id": result.conversation_id,
        "failures": [
            {"turn": f.turn, "check": f.check, "detail": f.detail} for f in result.failures
        ],
        "turns": [
            {
                "turn": turn.index,
                "customer": turn.customer,
                "replies": turn.replies,
                "tool_calls": [
                    {
                        "name": call.name,
                        "arguments": dict(call.arguments),
                        "result": call.result,
                        "is_error": call.is_error,
                    }
                    for call in turn.tool_calls
                ],
                "handed_over": turn.handed_over,
                "handover_reason": turn.handover_reason,
                "handover_expected": turn.handover_expected,
                "model_calls": turn.model_calls,
                "seconds": round(turn.seconds, 4),
                "model_seconds": round(turn.model_seconds, 4),
                "facts": [fact for check in turn.answers for fact in check.facts],
                "ungrounded": [fact for check in turn.answers for fact in check.ungrounded],
            }
            for turn in result.turns
        ],
    }


# --------------------------------------------------------------------------------- table
def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _number(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.2f}{unit}"


def report_table(info: RunInfo, results: Sequence[ScenarioResult]) -> str:
    m = compute_metrics(results)
    where = f"{info.model} at {info.llm_url}" if info.llm_url else info.model or "in-process"
    lines = [
        f"Agent evaluation: {where}",
        f"{m.scenarios} scenarios, {m.turns} turns, {info.seconds:.1f} s",
        "",
    ]
    rows = [
        ("resolution rate", _percent(m.resolution_rate), f"{m.resolved}/{m.scenarios} scenarios"),
        (
            "correct-tool rate",
            _percent(m.correct_tool_rate),
            f"{m.tool_turns_correct}/{m.tool_turns} turns with tool expectations",
        ),
        (
            "handover precision",
            _percent(m.handover_precision),
            f"{m.handovers_true} expected of {m.handovers_true + m.handovers_false} handovers",
        ),
        (
            "handover recall",
            _percent(m.handover_recall),
            f"{m.handovers_true} of {m.handovers_true + m.handovers_missed} expected handovers",
        ),
        (
            "grounding",
            _percent(m.grounding),
            f"{m.answers_with_facts} answers stating facts ({m.facts} facts, "
            f"{len(m.ungrounded_facts)} ungrounded)",
        ),
        ("isolation violations", str(m.isolation_violations), "other customers' data in tools"),
        (
            "model calls per turn",
            _number(m.model_calls_per_turn),
            f"{m.model_calls} calls; {_number(m.model_calls_per_model_turn)} per turn that "
            f"used the model ({m.model_turns})",
        ),
        (
            "turn latency",
            _number(m.mean_turn_seconds, " s"),
            f"mean; max {_number(m.max_turn_seconds, ' s')}",
        ),
        (
            "model call latency",
            _number(m.mean_model_call_seconds, " s"),
            f"mean; {m.input_tokens} tokens in, {m.output_tokens} out",
        ),
    ]
    lines += _columns([("metric", "value", "over"), *rows])
    lines += [
        "",
        *_columns(
            [("scenario", "result", "turns", "failures")]
            + [
                (r.name, "ok" if r.resolved else "FAILED", str(len(r.turns)), str(len(r.failures)))
                for r in results
            ]
        ),
    ]
    failed = [r for r in results if not r.resolved]
    if failed:
        lines += ["", "Failures:"]
        for result in failed:
            lines.append(f"  {result.name}")
            for failure in result.failures:
                lines.append(f"    {failure.describe()}")
    ungrounded = [
        (result.name, turn.index, fact)
        for result in results
        for turn in result.turns
        for check in turn.answers
        for fact in check.ungrounded
    ]
    if ungrounded:
        lines += ["", "Ungrounded facts:"]
        lines += [f"  {name} turn {index}: {fact}" for name, index, fact in ungrounded]
    return "\n".join(lines)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
