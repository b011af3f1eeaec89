"""`cienty`: the one command-line entry point.

Each installed component contributes a sub-command group through the `cienty.commands` entry
point group, so an image that only carries commerce only offers `cienty commerce ...`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click


class PluginGroup(click.Group):
    """A click group whose extra sub-commands come from an entry point group."""

    entry_point_group = "cienty.commands"

    def _plugins(self) -> dict[str, click.Command]:
        found: dict[str, click.Command] = {}
        for entry in entry_points(group=self.entry_point_group):
            command = entry.load()
            if isinstance(command, click.Command):
                found[entry.name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugins().get(cmd_name)


@click.group(cls=PluginGroup)
def main() -> None:
    """Cienty platform command line."""
