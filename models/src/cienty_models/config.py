"""Serving profiles (Ray Serve config files in models/serve/) and command-line overrides."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

PROFILES: Final = ("gpu-8b", "gpu-70b", "cpu")
LLM_APP: Final = "llm"
EMBEDDINGS_APP: Final = "embeddings"
# models/serve, next to this package's source tree (the CLI runs from an editable install; the
# GPU cluster reads the same files as RayService.spec.serveConfigV2, not through this module).
SERVE_DIR: Final = Path(__file__).resolve().parents[2] / "serve"


class ConfigError(ValueError):
    """A profile or an override is unusable; the message says what to change."""


@dataclass(frozen=True)
class Overrides:
    model_path: Path | None = None
    embedding_model_path: Path | None = None
    model_id: str | None = None


def profile_path(profile: str, serve_dir: Path = SERVE_DIR) -> Path:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    path = serve_dir / f"{profile}.yaml"
    if not path.is_file():
        raise ConfigError(f"profile file {path} is missing")
    return path


def load_profile(profile: str, serve_dir: Path = SERVE_DIR) -> dict[str, Any]:
    config = yaml.safe_load(profile_path(profile, serve_dir).read_text())
    if not isinstance(config, dict) or not isinstance(config.get("applications"), list):
        raise ConfigError(f"profile {profile!r} has no `applications:` list")
    return config


def application(config: dict[str, Any], name: str) -> dict[str, Any]:
    for app in config["applications"]:
        if app.get("name") == name:
            found: dict[str, Any] = app
            return found
    raise ConfigError(f"the profile has no application named {name!r}")


def llm_config(config: dict[str, Any], app_name: str) -> dict[str, Any]:
    """The single LLMConfig mapping of an application (each of ours serves one model)."""
    configs = application(config, app_name).get("args", {}).get("llm_configs", [])
    if len(configs) != 1:
        raise ConfigError(f"application {app_name!r} must configure exactly one model")
    found: dict[str, Any] = configs[0]
    return found


def model_directory(path: Path, option: str) -> str:
    if not path.is_dir():
        raise ConfigError(f"{option} {path}: no such directory")
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"{option} {path}: not a Hugging Face model directory (no config.json); "
            "build a test model with `cienty llm tiny-model DIR`"
        )
    return str(path.resolve())


def apply_overrides(profile: str, config: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """A copy of `config` with the overrides applied and local model paths checked."""
    config = copy.deepcopy(config)
    llm = llm_config(config, LLM_APP)["model_loading_config"]
    embeddings = llm_config(config, EMBEDDINGS_APP)["model_loading_config"]
    if profile == "cpu" and overrides.model_path is None:
        raise ConfigError(
            "the cpu profile serves a local model: pass --model-path DIR "
            "(`cienty llm tiny-model DIR` builds a tiny test model)"
        )
    if overrides.model_path is not None:
        llm["model_source"] = model_directory(overrides.model_path, "--model-path")
    if overrides.embedding_model_path is not None:
        embeddings["model_source"] = model_directory(
            overrides.embedding_model_path, "--embedding-model-path"
        )
    elif profile == "cpu":
        # The chat model doubles as the embedding model (vLLM converts it to a pooling model).
        embeddings["model_source"] = llm["model_source"]
    if overrides.model_id is not None:
        if not overrides.model_id.strip():
            raise ConfigError("--model-id must not be empty")
        llm["model_id"] = overrides.model_id
    return config


def only_applications(config: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    for name in names:
        application(config, name)
    return {**config, "applications": [a for a in config["applications"] if a["name"] in names]}
