"""bench: an inference cost and capacity benchmark (tokens/s, latency, memory, power -> $/M-token, MW)."""
__version__ = "0.1.0"
