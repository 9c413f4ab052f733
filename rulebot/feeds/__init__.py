"""Sources of market data that execute nothing: archive replay, the archive downloader, the
simulated market and the built-in instrument catalog.

Kept free of imports so that importing one submodule does not load the others.
"""
