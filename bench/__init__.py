"""Benchmark harness of the node list, detail and PATCH endpoints (``make bench``; see BENCHMARKS.md)."""
