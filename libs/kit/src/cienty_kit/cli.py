"""`cienty`: the one command-line entry point.

Each installed component contributes a sub-command group through the `cienty.commands` entry
point group, so an image that only carries commerce only offers `cienty commerce ...`.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click


class PluginGroup(click.Group):
    """A click group whose extra sub-commands come from an entry point group."""

    entry_point_group = "cienty.commands"

    def _entries(self) -> dict[str, EntryPoint]:
        return {entry.name: entry for entry in entry_points(group=self.entry_point_group)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entries()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Only the command asked for is imported: `cienty commerce serve` must not pay for (or
        # fail on) another component's imports, such as the knowledge base's torch.
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._entries().get(cmd_name)
        loaded = entry.load() if entry is not None else None
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=PluginGroup)
def main() -> None:
    """Cienty platform command line."""
