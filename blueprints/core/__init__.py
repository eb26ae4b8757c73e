"""Shared non-view layers: list state, reads, operations, cache, perf, auth and errors."""
