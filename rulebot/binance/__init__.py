"""Binance Futures' wire format, with no I/O: payload parsers and encoders, the one table of error
codes, and the stream sequencer. Used by the venue, the fake exchange, the simulator's views and
the catalog; `core/` never parses exchange JSON.

Kept free of imports so that importing one submodule does not load the others.
"""
