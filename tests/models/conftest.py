"""A real Ray Serve + vLLM (CPU) stack serving a tiny random Llama, started once per module.

The serving stack lives in .venv-models (`make models-venv`); these tests drive it from the main
environment as a subprocess, exactly as a developer runs `cienty llm serve --profile cpu`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.models.serving import ServingStack, start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    workdir: Path = tmp_path_factory.mktemp("serving")
    with start_stack(workdir) as running:
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing serving test shows the tail of the server's log beside its traceback."""
    report: pytest.TestReport = yield
    running = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(running, ServingStack):
        report.sections.append(("serve.log (tail)", running.log()[-20000:]))
    return report
