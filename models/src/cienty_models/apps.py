"""Serve applications built from a profile, the way Serve itself builds a config file's entries."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BuiltApp:
    name: str
    route_prefix: str
    app: Any  # ray.serve.Application


def _import_builder(import_path: str) -> Any:
    module_name, _, attribute = import_path.partition(":")
    if not attribute:
        module_name, _, attribute = import_path.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def build_applications(config: dict[str, Any]) -> list[BuiltApp]:
    """Call each application's builder (`import_path`) with its `args`, as `serve deploy` does."""
    return [
        BuiltApp(
            name=entry["name"],
            route_prefix=entry["route_prefix"],
            app=_import_builder(entry["import_path"])(entry.get("args", {})),
        )
        for entry in config["applications"]
    ]
