"""`price_protect: true` on a stop action reaches the exchange as Binance's priceProtect."""

from __future__ import annotations

from decimal import Decimal

from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderType
from rulebot.engine.engine import Engine
from rulebot.rulebook.compiler import compile_text

from .conftest import T0, holding, trades

BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: guard
    on: trade
    in: long
    when: price > 99
    do:
      - stop_loss: {distance: 5%, price_protect: true}
      - take_profit: {distance: 5%}
"""


def test_stop_loss_with_price_protect_is_placed_with_it(usdm):
    engine = Engine(compile_text(BOOK), usdm[0], {"USDT": Decimal(1000)}, run_id="bt", brackets=usdm[1])
    assert engine.restore_state("ADAUSDT", "long", T0 - 60_000)
    engine.start(T0)
    engine.on_event(holding("10", time=T0))
    step = engine.on_event(trades([100])[0])
    placed = {c.order_type: c for c in step.commands if isinstance(c, PlaceOrder) and c.tag != "daily_loss_cap"}
    assert placed[OrderType.STOP_MARKET].price_protect is True
    assert placed[OrderType.TAKE_PROFIT_MARKET].price_protect is False  # off unless asked for


EXIT_BOOK = """\
rulebook: t
market: usdm
symbols: [ADAUSDT]
timeframes: [1m]
account: {leverage: 5}
rules:
  - name: buy
    on: trade
    in: flat
    when: price >= 100
    do: [{enter: {side: long, size: 10}}, {goto: long}]
  - name: panic
    on: trade
    in: long
    when: price < 95
    do: [exit, {goto: flat}]
"""


def test_panic_exit_refused_with_4131_is_logged_and_sent_again_until_it_fills(usdm):
    from rulebot.core.events import MarkPrice
    from rulebot.engine import records as rec

    from .conftest import backtest

    # Enter at 100; the last price crashes to 90 while the mark lags at 100: ADAUSDT's band is 5%
    # (PERCENT_PRICE 0.95, marketTakeBound 0.05), so the market exit is refused with -4131 until
    # the mark follows the price down.
    path = trades([100, 100, 90, 90, 90, 90, 90])
    marks = [MarkPrice("ADAUSDT", Decimal(100), t.time) for t in path[:5]]
    marks.append(MarkPrice("ADAUSDT", Decimal(91), path[5].time))
    events = sorted([*path, *marks], key=lambda e: (e.time, isinstance(e, MarkPrice) is False))
    result, records = backtest(EXIT_BOOK, events, usdm)
    refused = [n for n in records if isinstance(n, rec.EngineNotice) and n.kind == "order-rejected"]
    before = [n for n in refused if n.time < path[5].time]
    assert len(before) >= 2  # refused on the crash, then sent again with backoff, and refused again
    assert all("-4131" in n.message and "the exit is sent again" in n.message for n in before)
    exits = [f for f in result.fills if f.purpose != "entry"]
    # Closed once the mark caught up (by whichever closing order came first: the exit or the
    # mark-price protective stop the same mark triggered).
    assert len(exits) == 1 and exits[0].time == path[5].time
    assert result.equity_curve[-1].position == 0
