"""The benchmark itself keeps working (its figures are not judged here: see `make bench`)."""

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quick_benchmark_runs_without_errors(repo_root: Path, tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [
            sys.executable, "-m", "bench.commerce",
            "--duration", "0.5", "--concurrency", "4", "--output", str(report),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    text = report.read_text()
    for scenario in ("bare GetProduct", "GetProduct", "SearchProducts", "CreateOrder"):
        assert f"| {scenario} |" in text
    assert "GetProduct / bare server throughput" in text


@pytest.mark.slow
def test_llm_client_benchmark_runs(repo_root: Path, tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(
        "# Benchmarks\n\n<!-- bench:commerce start -->\nkept\n<!-- bench:commerce end -->\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bench.llm", "--quick", "--skip-serving", "--output", str(report)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = report.read_text()
    assert "\nkept\n" in text  # the other benchmark's section is left alone
    assert "| `LLMClient.complete()` |" in text
    assert "client added latency at p50" in text
