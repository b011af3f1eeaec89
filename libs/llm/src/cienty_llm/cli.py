"""`cienty llm ...`: talk to the configured models; serving commands come from cienty-models."""

from __future__ import annotations

import click

from cienty_kit.cli import PluginGroup

SERVING_COMMANDS = ("serve", "tiny-model")


class _LLMCommands(PluginGroup):
    # The serving stack (Ray Serve, vLLM, torch) is installed in its own environment, which
    # contributes `serve` and `tiny-model` through this entry point group.
    entry_point_group = "cienty.llm_commands"

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in SERVING_COMMANDS and self.get_command(ctx, args[0]) is None:
            raise click.UsageError(
                f"`cienty llm {args[0]}` needs the model-serving environment (Ray Serve, vLLM): "
                f"run `make models-venv`, then `.venv-models/bin/cienty llm {args[0]} ...`."
            )
        return super().resolve_command(ctx, args)


@click.group(cls=_LLMCommands)
def llm() -> None:
    """Self-hosted models (Ray Serve + vLLM) and the client with Claude fallback."""
