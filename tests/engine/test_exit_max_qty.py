"""A close larger than the symbol's MARKET_LOT_SIZE maxQty goes out in orders Binance accepts.

BTCUSDT takes at most 120 BTC in one market order (LOT_SIZE, for limits, allows 1,000): a position
built of limit orders, or of several entries, can be larger than any one market order may close.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType
from rulebot.engine import records as rec

from .conftest import backtest, trades

BOOK = """\
rulebook: big-exit
market: usdm
symbols: [BTCUSDT]
account: {leverage: 10}
states:
  flat: {position: none}
  long: {position: long}
  half: {position: long}
rules:
  - name: buy
    on: trade
    in: flat
    when: price < 60001
    do:
      - enter: {side: long, size: "SIZE", order: limit, price: "price", time_in_force: IOC}
      - stop_loss: {distance: 50%}
      - goto: long
  - name: out
    on: trade
    in: long
    when: price > 60050
    do: [OUT]
"""


@pytest.mark.parametrize(
    ("size", "out", "closed"),
    [
        ("130", "exit", Decimal("130")),
        ("240.001", "exit", Decimal("240.001")),
        ("119.999", "exit", Decimal("119.999")),
        ("300", "{reduce: {by: 50%}}, {goto: half}", Decimal("150")),
    ],
)
def test_a_close_above_the_market_lot_maximum_is_sent_in_parts_binance_accepts(usdm, size, out, closed):
    # Before: 130 BTC closed with one 130 BTC market order, refused with -4005 (quantity greater than
    # max quantity) and sent again, and again refused, forever: the position could not be closed by
    # an exit, a flatten, the daily loss cap or the kill switch.
    text = BOOK.replace("SIZE", size).replace("OUT", out)
    events = trades([60000, 60000, 60100, 60100, 60100], symbol="BTCUSDT", qty="1000")
    result, records = backtest(text, events, usdm, balance=5_000_000)
    refused = [r.message for r in records if isinstance(r, rec.EngineNotice) and r.kind == "order-rejected"]
    assert refused == []
    sent = [c for c in records if isinstance(c, PlaceOrder) and c.order_type is OrderType.MARKET]
    assert sent and all(c.quantity is not None and c.quantity <= 120 for c in sent)
    sold = sum((f.quantity for f in result.fills if f.side == "SELL"), Decimal(0))
    assert sold == closed
