"""The engine: book, orders, positions, risk, strategy API, hot loop, latency probes, Deribit session."""
