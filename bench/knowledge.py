"""The knowledge-base benchmarks: ingestion throughput and search latency/quality.

`python -m bench.knowledge [--quick] [--output FILE]`. Writes its section of docs/benchmarks.md;
a missed target is reported (FAIL), not fatal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.document import DEFAULT_PAGE, write_section
from bench.report import machine
from cienty_kit.logging import configure_logging

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.knowledge", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run; no report by default")
    parser.add_argument("--output", type=Path, default=None, help="default docs/benchmarks.md")
    args = parser.parse_args(argv)
    output: Path | None = args.output or (None if args.quick else REPO_ROOT / DEFAULT_PAGE)
    configure_logging("ERROR", "console")
    from bench import knowledge_ingest, knowledge_search

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    parts = [
        "## Knowledge base",
        "",
        "`python -m bench.knowledge`.",
        "",
        "### Run",
        "",
        f"- Date: {started}",
        *(f"- {item}" for item in machine()),
    ]
    for name, run in (("ingestion", knowledge_ingest.run), ("search", knowledge_search.run)):
        print(f"knowledge {name}", flush=True)
        text = run(quick=args.quick)
        print(text, flush=True)
        parts += ["", text]
    if output is not None:
        write_section(output, "knowledge", "\n".join(parts))
        print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
