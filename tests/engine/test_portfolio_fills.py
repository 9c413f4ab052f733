"""The engine counts each fill once: a fill settled from REST while the user stream was silent
(no commission, no PnL: REST's order does not say) and the stream's late report of the same fill
(stale to the order manager, but the only one that brings the money); a report said twice."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from rulebot.core.account_events import OrderUpdate
from rulebot.core.commands import PlaceOrder
from rulebot.core.enums import OrderStatus, OrderType, PositionSide, Side
from rulebot.engine.engine import Engine
from rulebot.rulebook.compiler import compile_text

from .conftest import T0

BOOK = """\
rulebook: fills
market: usdm
symbols: [ADAUSDT]
rules:
  - name: buy
    on: trade
    in: flat
    do: [{enter: {side: long, size: 10}}, {goto: long}]
  - name: sell
    on: trade
    in: long
    when: price > 110
    do: [exit, {goto: flat}]
"""


def engine_with_entry(usdm) -> Engine:
    engine = Engine(compile_text(BOOK), usdm[0], {"USDT": D(1000)}, run_id="bt", brackets=usdm[1])
    engine.start(T0)
    entry = PlaceOrder("bt-1", "ADAUSDT", Side.BUY, OrderType.MARKET, D(10), time=T0)
    engine.adopt_order(entry, "entry", "buy")
    return engine


def report(commission: str = "0.02", trade_id: int | None = 77) -> OrderUpdate:
    """The stream's FILLED report of bt-1: 10 at 0.5."""
    return OrderUpdate(
        "ADAUSDT", "bt-1", 9, Side.BUY, OrderType.MARKET, OrderStatus.FILLED, "TRADE", D(10), D(0), D("0.5"),
        D(10), D(10), D("0.5"), D(commission), "USDT", D(0), False, False, PositionSide.BOTH, None, None, None,
        trade_id, T0 + 10,
    )  # fmt: skip


def test_a_late_stream_report_of_a_fill_settled_from_rest_counts_its_money_not_a_second_fill(usdm) -> None:
    engine = engine_with_entry(usdm)
    settled = replace(report(), commission=D(0), trade_id=None)  # recovery.order_event: REST says no fee
    engine.on_event(settled)
    engine.on_event(report())  # the silent stream speaks at last
    pf = engine.state.portfolio
    assert pf.fills == 1
    assert pf.fees_paid == D("0.02")


def test_a_report_said_twice_counts_once(usdm) -> None:
    engine = engine_with_entry(usdm)
    engine.on_event(report())
    engine.on_event(report())
    pf = engine.state.portfolio
    assert (pf.fills, pf.fees_paid) == (1, D("0.02"))


def test_fills_of_orders_not_ours_count(usdm) -> None:
    engine = engine_with_entry(usdm)
    liquidation = replace(report(trade_id=80), client_order_id="autoclose-1", side=Side.SELL, commission=D("0.5"))
    engine.on_event(report())
    engine.on_event(liquidation)
    pf = engine.state.portfolio
    assert (pf.fills, pf.fees_paid) == (2, D("0.52"))
