"""Benchmarks: three scenarios (orders, marketdata, positions), ours vs a plain baseline client, reports."""
