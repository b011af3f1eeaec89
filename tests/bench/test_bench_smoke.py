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
