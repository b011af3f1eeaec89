"""Benchmarks: `make bench` (`python -m bench.commerce`) writes docs/benchmarks.md."""
