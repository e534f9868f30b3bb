"""Benchmarks that print figures; never run by the test command (see docs/performance.md)."""
