"""Backtests: replay or simulated markets through the engine and the exchange simulator."""
