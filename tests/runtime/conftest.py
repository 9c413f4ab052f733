"""Shared by the runtime tests: two small rulebooks and a wait that fails instead of hanging."""

from __future__ import annotations

from pathlib import Path

from rulebot.testing.bots import hold_on_candle
from rulebot.testing.bots import until as until  # the tests import it from here

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
HOLD_ON_CANDLE = hold_on_candle("runner-test")
