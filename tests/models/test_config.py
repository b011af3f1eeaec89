"""Serving profiles: shape (a Ray Serve config file), pinned knobs, and CLI overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cienty_models.config import (
    EMBEDDINGS_APP,
    LLM_APP,
    PROFILES,
    ConfigError,
    Overrides,
    apply_overrides,
    llm_config,
    load_profile,
)

SERVED_IDS = {"gpu-8b": "llama-3.1-8b-instruct", "gpu-70b": "llama-3.3-70b-instruct"}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_a_serve_config_with_llm_and_embeddings(profile: str) -> None:
    config = load_profile(profile)
    apps = {app["name"]: app for app in config["applications"]}
    assert set(apps) == {LLM_APP, EMBEDDINGS_APP}
    assert apps[LLM_APP]["route_prefix"] == "/"
    assert apps[EMBEDDINGS_APP]["route_prefix"] == "/embeddings"
    for app in apps.values():
        assert app["import_path"] == "ray.serve.llm:build_openai_app"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_model_has_readiness_probe_and_never_scales_to_zero(profile: str) -> None:
    config = load_profile(profile)
    for name in (LLM_APP, EMBEDDINGS_APP):
        model: dict[str, Any] = llm_config(config, name)
        assert model["server_cls"] == "cienty_models.readiness:ProbingLLMServer"
        deployment = model["deployment_config"]
        assert deployment["autoscaling_config"]["min_replicas"] >= 1
        # Serve's health-check timeout must cover the probe's own timeout.
        probe_timeout = model["experimental_configs"]["generation_probe_timeout_s"]
        assert deployment["health_check_timeout_s"] > probe_timeout


@pytest.mark.parametrize("profile", PROFILES)
def test_chat_models_call_tools_with_schema_pinned_arguments(profile: str) -> None:
    engine = llm_config(load_profile(profile), LLM_APP)["engine_kwargs"]
    assert engine["enable_auto_tool_choice"] is True
    assert engine["tool_call_parser"] == "llama3_json"
    assert engine["tool_strict_level"] == "parameter"
    assert engine["enable_prefix_caching"] is True


@pytest.mark.parametrize(("profile", "model_id"), SERVED_IDS.items())
def test_gpu_profiles_serve_the_agreed_model_ids(profile: str, model_id: str) -> None:
    model = llm_config(load_profile(profile), LLM_APP)
    assert model["model_loading_config"]["model_id"] == model_id
    assert model["accelerator_type"]


def test_cpu_profile_needs_a_model_path() -> None:
    with pytest.raises(ConfigError, match="--model-path DIR"):
        apply_overrides("cpu", load_profile("cpu"), Overrides())


def test_missing_model_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        apply_overrides("cpu", load_profile("cpu"), Overrides(model_path=tmp_path / "absent"))


def test_directory_without_config_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config\.json"):
        apply_overrides("cpu", load_profile("cpu"), Overrides(model_path=tmp_path))


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'gpu-1t'"):
        load_profile("gpu-1t")


def test_cpu_overrides_fill_both_models(model_dir: Path, tmp_path: Path) -> None:
    config = apply_overrides(
        "cpu", load_profile("cpu"), Overrides(model_path=model_dir, model_id="dev-llama")
    )
    chat = llm_config(config, LLM_APP)["model_loading_config"]
    embed = llm_config(config, EMBEDDINGS_APP)["model_loading_config"]
    assert chat == {"model_id": "dev-llama", "model_source": str(model_dir.resolve())}
    assert embed["model_source"] == str(model_dir.resolve())
    assert llm_config(load_profile("cpu"), LLM_APP)["model_loading_config"]["model_id"] == (
        "cienty-local"
    )


def test_gpu_profile_keeps_its_sources_unless_overridden(model_dir: Path) -> None:
    original = load_profile("gpu-8b")
    config = apply_overrides("gpu-8b", original, Overrides(embedding_model_path=model_dir))
    assert llm_config(config, LLM_APP) == llm_config(original, LLM_APP)
    embed = llm_config(config, EMBEDDINGS_APP)["model_loading_config"]
    assert embed["model_source"] == str(model_dir.resolve())
