"""An entry the position limits let through is one the exchange can pay for: a limit buy above the
mark (a sell below it) costs its open loss too, and so does the IOC limit the volatility breaker
turns a market entry into."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rulebot.engine import records as rec

from .conftest import T0, backtest, trades
from .test_risk_guards import HEAD, _calm_then_wild


def _refusals(records) -> list[str]:
    return [r.message for r in records if isinstance(r, rec.EngineNotice) and r.kind == "order-rejected"]


def test_a_full_size_entry_while_the_breaker_is_tripped_is_one_the_exchange_accepts(usdm):
    # 100% of 10,000 USDT at 10x, entered while volatility is 7x its baseline. The size was cut for
    # a market buy, then the breaker made it an IOC limit 0.5% above the last price, whose open
    # loss (0.5% x 10 = 5% of the equity) Binance charges too: -2019 on every trade, never entered.
    events = _calm_then_wild()
    text = (
        HEAD
        + "account: {leverage: 10}\n"
        + f"""\
rules:
  - name: late
    on: trade
    in: flat
    when: time >= {events[930].time}
    do: [{{enter: {{side: long, size: 100%}}}}, {{stop_loss: {{distance: 50%}}}}, {{goto: long}}]
"""
    )
    result, records = backtest(text, events, usdm)
    assert _refusals(records) == []
    entries = [f for f in result.fills if f.purpose == "entry"]
    assert entries and entries[0].time == events[930].time


@pytest.mark.parametrize(("side", "price"), [("long", "price * 1.004"), ("short", "price * 0.996")])
def test_a_marketable_limit_of_the_whole_equity_is_cut_to_what_it_costs(usdm, side, price):
    # A limit buy 0.4% above the mark at 10x costs 4% of its notional in open loss on top of its
    # margin: sized on its margin alone it was refused with -2019.
    text = (
        HEAD
        + "account: {leverage: 10}\n"
        + f"""\
rules:
  - name: in
    on: trade
    in: flat
    do:
      - enter: {{side: {side}, size: 100%, order: limit, price: "{price}", time_in_force: IOC}}
      - stop_loss: {{distance: 50%}}
      - goto: {side}
"""
    )
    result, records = backtest(text, trades([100] * 3), usdm)
    assert _refusals(records) == []
    entries = [f for f in result.fills if f.purpose == "entry"]
    assert len(entries) == 1
    assert entries[0].quantity * entries[0].price > Decimal(90_000)  # most of the 10x still used


def test_an_entry_is_cut_to_what_the_other_symbols_resting_orders_leave(usdm):
    # A limit buy of 60% of the equity (6,000 USDT of margin at 10x) rests on ADAUSDT far below the
    # price; Binance takes its margin out of availableBalance. An entry of 60% on SOLUSDT was sized
    # on the 10,000 the positions left, not the 4,000 the order left too: refused with -2019.
    text = """\
rulebook: t
market: usdm
symbols: [ADAUSDT, SOLUSDT]
account: {leverage: 10}
rules:
  - name: in
    on: trade
    in: flat
    do:
      - enter: {side: long, size: 60%, order: limit, price: "price * 0.5 if price < 10 else price * 1.001"}
      - stop_loss: {distance: 40%}
      - goto: long
"""
    events = sorted(
        trades([1.0] * 3, symbol="ADAUSDT") + trades([100.0] * 3, start=T0 + 30_000, symbol="SOLUSDT"),
        key=lambda t: t.time,
    )
    result, records = backtest(text, events, usdm)
    assert _refusals(records) == []
    sol = [f for f in result.fills if f.symbol == "SOLUSDT" and f.purpose == "entry"]
    assert sol and sum(f.quantity * f.price for f in sol) <= Decimal(40_000)
