"""Benchmark harness for the MCP Gateway data plane (``python -m bench``; see docs/benchmarks.md)."""
