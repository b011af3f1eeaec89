"""`cienty eval agent`: the scenario suite against a model, with metrics.

Exit codes: 0 the run completed (and met --min-resolution); 1 it completed below
--min-resolution; 2 it could not run (bad options, scenario files, database).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from cienty_kit.logging import configure_logging

BELOW_THRESHOLD = 1
COULD_NOT_RUN = 2


@click.group(name="eval")
def evaluate() -> None:
    """Evaluate the customer-service agent against scripted scenarios."""


@evaluate.command()
@click.option(
    "--llm-url",
    envvar="CIENTY_LLM_PRIMARY_URL",
    required=True,
    help="OpenAI-compatible base URL of the model (vLLM, Ray Serve, `cienty llm serve`); "
    "default $CIENTY_LLM_PRIMARY_URL.",
)
@click.option(
    "--model",
    envvar="CIENTY_LLM_PRIMARY_MODEL",
    required=True,
    help="Model name the server serves; default $CIENTY_LLM_PRIMARY_MODEL.",
)
@click.option(
    "--database-url",
    envvar="CIENTY_DATABASE_URL",
    required=True,
    help="PostgreSQL for the conversations schema (migrated first; a shared one is fine); "
    "default $CIENTY_DATABASE_URL.",
)
@click.option(
    "--scenarios",
    "scenarios_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of scenario YAML files (default: the packaged suite).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Run only this scenario or tag (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON report (every turn, reply and tool call) to this file.",
)
@click.option(
    "--min-resolution",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Exit 1 when the resolution rate is below this share.",
)
@click.option(
    "--turn-timeout",
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    help="Seconds one agent turn (all its model calls) may take.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="WARNING",
    show_default=True,
    help="Service logs, on stderr.",
)
def agent(
    llm_url: str,
    model: str,
    database_url: str,
    scenarios_dir: Path | None,
    only: tuple[str, ...],
    as_json: bool,
    report_file: Path | None,
    min_resolution: float,
    turn_timeout: float,
    log_level: str,
) -> None:
    """Run the scenario suite through the conversations service and report its metrics."""
    from cienty_conversations.evaluation.report import (
        compute_metrics,
        model_never_answered,
        report_json,
        report_table,
    )
    from cienty_conversations.evaluation.runner import RunOptions, ScenarioResult, run_suite
    from cienty_conversations.evaluation.scenarios import ScenarioError, load_suite
    from cienty_conversations.migrations.runner import upgrade

    configure_logging(log_level, "console", stream=sys.stderr)
    try:
        suite = load_suite(scenarios_dir).select(only)
    except ScenarioError as error:
        _fail(str(error))
    try:
        upgrade(database_url)
    except Exception as error:
        _fail(f"could not migrate the conversations database: {error}")

    def progress(result: ScenarioResult) -> None:
        mark = "ok" if result.resolved else f"FAILED ({len(result.failures)})"
        click.echo(f"{result.name}: {mark}", err=True)

    options = RunOptions(
        database_url=database_url,
        llm_url=llm_url,
        model=model,
        scenarios_dir=str(scenarios_dir or "(packaged)"),
        turn_timeout_seconds=turn_timeout,
    )
    try:
        info, results = asyncio.run(run_suite(suite, options, progress=progress))
    except Exception as error:
        _fail(f"the evaluation could not run: {type(error).__name__}: {error}")
    if model_never_answered(results):
        _fail(f"the model never answered: is {model!r} served at {llm_url}?")
    document = report_json(info, results)
    if report_file is not None:
        report_file.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(report_table(info, results))
    rate = compute_metrics(results).resolution_rate or 0.0
    if rate < min_resolution:
        click.echo(
            f"resolution rate {rate:.1%} is below --min-resolution {min_resolution:.1%}", err=True
        )
        sys.exit(BELOW_THRESHOLD)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(COULD_NOT_RUN)
