"""The LLM benchmarks: the client's overhead and failover, and Ray Serve against bare vLLM.

`python -m bench.llm [--quick] [--skip-serving] [--output FILE]`. Writes its section of
docs/benchmarks.md. Exits 1 when a measurement could not be made; a missed target is
reported (FAIL), not fatal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench import llm_client
from bench.document import DEFAULT_PAGE, write_section
from bench.report import machine
from cienty_kit.logging import configure_logging

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llm", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run; no report by default")
    parser.add_argument(
        "--skip-serving", action="store_true", help="only the client (no Ray Serve / vLLM)"
    )
    parser.add_argument("--output", type=Path, default=None, help="default docs/benchmarks.md")
    args = parser.parse_args(argv)
    output: Path | None = args.output or (None if args.quick else REPO_ROOT / DEFAULT_PAGE)
    configure_logging("ERROR", "console")

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print("LLM client: overhead and failover", flush=True)
    client = llm_client.measure(rounds=30 if args.quick else 300)
    client_text = llm_client.markdown(client)
    print(client_text, flush=True)
    sections = [
        "## LLM client and serving",
        "",
        "`python -m bench.llm`.",
        "",
        "### Run",
        "",
        f"- Date: {started}",
        *(f"- {item}" for item in machine()),
        "",
        client_text,
    ]
    if not args.skip_serving:
        from bench import llm_serving

        print("\nRay Serve vs bare vLLM on the CPU", flush=True)
        serving_text = llm_serving.run(quick=args.quick)
        print(serving_text, flush=True)
        # One level down: the page's sections are `##`, this benchmark's parts `###`.
        demoted = (
            "#" + line if line.startswith("#") else line for line in serving_text.split("\n")
        )
        sections += ["", *demoted]
    if output is not None:
        write_section(output, "llm", "\n".join(sections))
        print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
