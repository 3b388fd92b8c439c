"""Benchmarks of the gateway against baselines (see bench/README.md)."""
