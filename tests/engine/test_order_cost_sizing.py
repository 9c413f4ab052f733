"""An entry the max_leverage guard cuts to the cap still passes Binance's order-cost check
(initial margin at ask * 1.0005 plus the open loss against the mark): it is not refused."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.events import MarkPrice
from rulebot.engine import records as rec

from .conftest import backtest, trades

BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 100000}}, {goto: long}]
  - {name: out, on: trade, in: long, when: price > 1000000, do: [exit]}
"""


def test_an_entry_cut_to_the_leverage_cap_is_not_refused_for_margin(usdm):
    path = trades([100, 100, 100])
    marks = [MarkPrice("ADAUSDT", Decimal(100), t.time - 1) for t in path]
    result, records = backtest(BOOK, sorted([*path, *marks], key=lambda e: e.time), usdm, balance=1000)
    refused = [n for n in records if isinstance(n, rec.EngineNotice) and n.kind == "order-rejected"]
    assert refused == []
    (entry,) = [f for f in result.fills if f.purpose == "entry"]
    # 1,000 at 5x: at most 1,000 / (100.05 / 5 + 0.05) = 49.85 ADA (the step is 1 ADA).
    assert entry.quantity == 49
