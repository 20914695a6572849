"""Benchmarks: each module runs with `python -m bench.NAME`; see docs/performance.md."""
