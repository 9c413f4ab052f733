"""Shared by the runtime tests: two small rulebooks and a wait that fails instead of hanging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Enters on the first trade with a stop, then holds: orders, a fill and a stop at once.
HOLD_ON_TRADE = """\
rulebook: hold
market: usdm
symbols: [BTCUSDT]
account: {leverage: 3}
risk: {protective_stop_within: 1s}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: never
    on: trade
    in: long
    when: price > 100000000
    do: [exit]
"""

# Enters at the first closed 1m candle, then logs every candle: decisions on the data clock.
HOLD_ON_CANDLE = """\
rulebook: runner-test
market: usdm
symbols: [BTCUSDT]
timeframes: [1m]
account: {leverage: 3}
rules:
  - name: buy
    on: candle_close 1m
    in: flat
    do: [{enter: {side: long, size: "0.01"}}, {stop_loss: {distance: 5%}}, {goto: long}]
  - name: note
    on: candle_close 1m
    in: long
    when: close@1m > 0
    do: [{log: "holding at {close@1m}"}]
"""


async def until(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
