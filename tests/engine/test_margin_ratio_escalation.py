"""The margin-ratio guard closes the whole position above 95% even within its cooldown after a halving.

Halving an isolated position leaves its margin ratio and liquidation price where they were (its
wallet is released in proportion), so after the guard's cut at 80% the rest goes on toward
liquidation; the 10 s cooldown then held back the close above 95% until it was too late.
"""

from __future__ import annotations

from decimal import Decimal

from rulebot.engine import records as rec

from .conftest import backtest, trades

BOOK = """\
rulebook: mr
market: usdm
symbols: [BTCUSDT]
account: {leverage: 10, margin: isolated}
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: "0.05"}}, {stop_loss: {distance: 50%}}, {goto: long}]
"""


def test_above_95_percent_the_rest_is_closed_within_the_cooldown(usdm):
    # 0.05 BTC from 60,000 on a 300 USDT isolated wallet liquidates at 54,216.87 (MARGIN.md's isolated
    # formula). At 54,270 the ratio is 80.4%: half is cut. At 54,226 it is 96.0% for 8 s; then 54,210.
    # Before: nothing for 10 s after the halving, and the rest was liquidated at 54,210 (-144.75 and a
    # 5.25 clearance fee). Now the rest is closed at 54,226 and nothing is liquidated.
    prices = [60000] * 2 + [54270] * 2 + [54226] * 8 + [54210] * 3
    result, records = backtest(BOOK, trades(prices, symbol="BTCUSDT", every_ms=1000), usdm)
    cuts = [(f.quantity, f.price) for f in result.fills if f.purpose == "deleverage"]
    assert cuts == [(Decimal("0.025"), Decimal(54270)), (Decimal("0.025"), Decimal(54226))]
    assert result.liquidations == 0
    acted = [
        v.reason
        for r in records
        if isinstance(r, rec.GuardRecord)
        for v in r.verdicts
        if v.guard == "max_margin_ratio" and v.kind == "act"
    ]
    assert len(acted) == 2 and "closing the position" in acted[1]
