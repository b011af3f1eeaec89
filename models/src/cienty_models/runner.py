"""Start Ray, Serve and the profile's applications; block until SIGINT/SIGTERM; shut down."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from cienty_kit.logging import configure_logging, get_logger
from cienty_models.apps import build_applications

log = get_logger(__name__)


def run(
    config: dict[str, Any],
    *,
    host: str,
    port: int,
    logical_cpus: int | None = None,
    log_level: str = "INFO",
) -> None:
    """Serve `config` until a signal arrives. `logical_cpus` overrides Ray's CPU count."""
    import ray
    from ray import serve
    from ray.serve import RunTarget

    ray.init(num_cpus=logical_cpus, include_dashboard=False)
    # After ray.init, which installs a SIGTERM handler that exits at once. Ours makes SIGTERM
    # behave like Ctrl-C, which also interrupts a deployment still waiting for its engine.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve.start(http_options={"host": host, "port": port})
        built = build_applications(config)
        # Importing ray.serve.llm replaces the root handler with Ray's JSON formatter, which
        # cannot format structlog's records: put ours back.
        configure_logging(log_level)
        log.info("deploying", applications={app.name: app.route_prefix for app in built})
        # All at once, so the engines load in parallel; returns when every application runs.
        serve.run_many(
            [RunTarget(app.app, name=app.name, route_prefix=app.route_prefix) for app in built]
        )
        log.info("serving", url=f"http://{host}:{port}", applications=_names(config))
        threading.Event().wait()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        serve.shutdown()
        ray.shutdown()
        log.info("stopped")


def _names(config: dict[str, Any]) -> list[str]:
    return [app["name"] for app in config["applications"]]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
