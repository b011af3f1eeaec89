"""`cienty llm ...`: talk to the configured models; serving commands come from cienty-models."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import click
from pydantic import ValidationError

from cienty_kit.cli import PluginGroup
from cienty_kit.logging import configure_logging
from cienty_llm.errors import LLMError
from cienty_llm.factory import build_llm_client, describe
from cienty_llm.settings import LLMSettings
from cienty_llm.types import ChatRequest, Completion, Message, TextDelta

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


@llm.command()
@click.argument("text")
@click.option("--system", "system_prompt", default=None, help="A system prompt to send first.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option("--stream/--no-stream", default=True, help="Print the answer as it comes.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def chat(
    text: str, system_prompt: str | None, max_tokens: int | None, stream: bool, as_json: bool
) -> None:
    """Send TEXT through the LLM client and say which provider answered."""
    try:
        settings = LLMSettings()
    except ValidationError as error:
        raise click.UsageError(f"invalid LLM configuration: {error}") from error
    configure_logging("WARNING", "console", stream=sys.stderr)
    if not as_json:
        for line in describe(settings):
            click.echo(line, err=True)
    messages = [Message.system(system_prompt)] if system_prompt else []
    request = ChatRequest([*messages, Message.user(text)], max_tokens=max_tokens)
    try:
        completion, seconds = asyncio.run(_chat(settings, request, stream and not as_json))
    except LLMError as error:
        if as_json:
            click.echo(json.dumps({"error": type(error).__name__, "detail": str(error)}))
        else:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(_as_dict(completion, seconds), ensure_ascii=False))
        return
    if not stream:
        click.echo(completion.text)
    fallback = f", after {', '.join(completion.failed_providers)} failed" * bool(
        completion.failed_providers
    )
    click.echo(
        f"-- answered by {completion.provider} ({completion.model}) in {seconds:.2f} s{fallback}; "
        f"{completion.usage.input_tokens} tokens in, {completion.usage.output_tokens} out",
        err=True,
    )


async def _chat(
    settings: LLMSettings, request: ChatRequest, stream: bool
) -> tuple[Completion, float]:
    client = build_llm_client(settings)
    started = time.perf_counter()
    try:
        if not stream:
            return await client.complete(request), time.perf_counter() - started
        completion: Completion | None = None
        async for event in client.stream(request):
            if isinstance(event, TextDelta):
                click.echo(event.text, nl=False)
            else:
                completion = event.completion
        click.echo()
        assert completion is not None
        return completion, time.perf_counter() - started
    finally:
        await client.aclose()


def _as_dict(completion: Completion, seconds: float) -> dict[str, object]:
    return {
        "provider": completion.provider,
        "model": completion.model,
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "usage": {
            "input_tokens": completion.usage.input_tokens,
            "output_tokens": completion.usage.output_tokens,
        },
        "failed_providers": list(completion.failed_providers),
        "fallback_used": completion.used_fallback,
        "seconds": round(seconds, 3),
    }
