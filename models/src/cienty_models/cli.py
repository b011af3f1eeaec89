"""`cienty llm serve` and `cienty llm tiny-model`: entry points of the cienty.llm_commands group."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cienty_kit.logging import configure_logging, get_logger
from cienty_models.config import (
    EMBEDDINGS_APP,
    LLM_APP,
    PROFILES,
    ConfigError,
    Overrides,
    apply_overrides,
    load_profile,
    only_applications,
)

log = get_logger(__name__)
# On the CPU the OpenAI ingress and each model replica ask Ray for a CPU; with Ray's count equal
# to the physical cores (2 on a laptop VM or CI runner) the ingress would never be scheduled.
CPU_PROFILE_LOGICAL_CPUS = 8


@click.command()
@click.option("--profile", type=click.Choice(PROFILES), required=True, help="Serving profile.")
@click.option(
    "--model-path",
    type=click.Path(path_type=Path),
    help="Local directory of the chat model (required for the cpu profile).",
)
@click.option(
    "--embedding-model-path",
    type=click.Path(path_type=Path),
    help="Local directory of the embedding model (cpu profile default: --model-path).",
)
@click.option("--model-id", help="Model id clients send as `model` (overrides the profile's).")
@click.option(
    "--app",
    "apps",
    multiple=True,
    type=click.Choice([LLM_APP, EMBEDDINGS_APP]),
    help="Serve only this application (repeatable; default: all).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--log-level", default="INFO", show_default=True)
def serve(
    profile: str,
    model_path: Path | None,
    embedding_model_path: Path | None,
    model_id: str | None,
    apps: tuple[str, ...],
    host: str,
    port: int,
    log_level: str,
) -> None:
    """Serve a profile (OpenAI chat at /, embeddings at /embeddings) until interrupted."""
    configure_logging(log_level)
    try:
        config = apply_overrides(
            profile,
            load_profile(profile),
            Overrides(model_path, embedding_model_path, model_id),
        )
        if apps:
            config = only_applications(config, apps)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    from cienty_models.runner import run

    log.info("starting", profile=profile, host=host, port=port)
    logical_cpus = max(CPU_PROFILE_LOGICAL_CPUS, os.cpu_count() or 1) if profile == "cpu" else None
    run(config, host=host, port=port, logical_cpus=logical_cpus, log_level=log_level)


@click.command("tiny-model")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
def tiny_model(directory: Path, seed: int) -> None:
    """Build a tiny random Llama (with tokenizer and chat template) into DIRECTORY."""
    from cienty_models.tiny import build_tiny_model

    click.echo(str(build_tiny_model(directory, seed=seed)))
