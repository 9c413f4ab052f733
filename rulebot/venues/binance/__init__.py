"""Binance Futures venue (USDⓈ-M `/fapi` and COIN-M `/dapi`): payload parsing, errors, and later
signing, REST, streams and the local order book.

Kept free of imports so that importing one submodule does not load the others.
"""
