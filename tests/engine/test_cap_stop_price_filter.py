"""The daily loss cap's stop has a trigger Binance accepts: within PRICE_FILTER's minPrice..maxPrice.

Found by fuzzing small positions against the simulator: a short of 0.002 BTC on a large account has
its cap 25,000,000 USDT away, past BTCUSDT's maxPrice 4,529,764, and the stop was refused (-4007).
"""

from __future__ import annotations

import pytest

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import Market
from rulebot.engine import records as rec
from rulebot.feeds.catalog import builtin_instruments

from .conftest import backtest, trades

BOOK = """\
rulebook: capped
market: usdm
symbols: [BTCUSDT]
account: {leverage: 10}
rules:
  - name: open
    on: trade
    in: flat
    do: [{enter: {side: SIDE, size: "SIZE"}}, {stop_loss: {distance: 50%}}, {goto: SIDE}]
"""


@pytest.mark.parametrize(
    ("side", "size", "balance"),
    [
        ("short", "0.002", 1_000_000),  # cap 50,000 USDT: a short's cap price is 25,060,000
        ("long", "0.835", 1_000_000),  # a long's is about 120, under minPrice 556.80
    ],
)
def test_the_cap_stop_lies_within_the_price_filter(usdm, side, size, balance):
    text = BOOK.replace("SIDE", side).replace("SIZE", size)
    _, records = backtest(text, trades([60000] * 4, symbol="BTCUSDT"), usdm, balance)
    refused = [r.message for r in records if isinstance(r, rec.EngineNotice) and r.kind == "order-rejected"]
    assert refused == []
    pf = builtin_instruments(Market.USDM)["BTCUSDT"].price_filter
    cap_stops = [c for c in records if isinstance(c, PlaceOrder) and c.tag == "daily_loss_cap"]
    assert cap_stops
    for c in cap_stops:
        assert c.trigger_price is not None and pf.min_price <= c.trigger_price <= pf.max_price
