"""Demo strategies: a market maker (numba tier) and a taker on a signal (Python tier)."""
