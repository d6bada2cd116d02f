"""Benchmarks: the seed scenarios (orders, marketdata, positions), ours vs a plain baseline client, reports."""
