"""Benchmarks of sopflow: a synthetic library generator and the lint throughput benchmark."""
