"""Benchmarks that print figures; never run by the test command (see README: Benchmarks)."""
