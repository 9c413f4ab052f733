"""A trade of a held position while only mark-price stops work meets nothing but the bankruptcy
check (exchange.py's shortcut, book.out_of_reach); the bankruptcy price it checks is kept with the
leg's Decimals (risk.py) and must follow every change of the leg."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from rulebot.core.enums import MarginType, OrderType, Side, WorkingType
from rulebot.exchange_sim import SimExchange

from .conftest import BTCUSDT, algo_status, book, limit, market, order, trades, usdm

BUY, SELL = Side.BUY, Side.SELL


def held() -> SimExchange:
    """Long 0.5 BTC at 60,000, isolated wallet 1,500 (bankruptcy 57,000), a mark-price stop at 58,000."""
    sim = usdm(default_margin_type=MarginType.ISOLATED)
    book(sim, "59999.9", "60000")
    assert sim.execute(market("open", BUY, "0.5"), 1).ok
    sl = order("sl", SELL, OrderType.STOP_MARKET, None, trigger="58000", working_type=WorkingType.MARK_PRICE)
    assert sim.execute_algo(replace(sl, close_position=True), 2).ok
    return sim


def test_a_trade_checks_the_bankruptcy_price_of_the_leg_as_it_is_now() -> None:
    sim = held()
    assert sim.on_trade(BTCUSDT, D("57500"), D("1"), 3, False) == []  # above 57,000: nothing happens
    book(sim, "61999.9", "62000", time=4)
    assert sim.execute(market("add", BUY, "0.5"), 5).ok
    # 1 BTC at 61,000 on 3,050 of margin: bankrupt at 57,950, so the same price now liquidates.
    (fill,) = trades(sim.on_trade(BTCUSDT, D("57500"), D("1"), 6, False))
    assert fill.client_order_id.startswith("autoclose-")
    assert sim.positions() == []
    assert algo_status(sim, "sl") == "EXPIRED"


def test_a_trade_through_a_resting_limit_fills_it_beside_mark_price_stops() -> None:
    sim = held()
    assert sim.execute(limit("tp", SELL, "0.2", "60500"), 3).ok
    (fill,) = trades(sim.on_trade(BTCUSDT, D("60600"), D("1"), 4, False))
    assert fill.client_order_id == "tp" and fill.last_filled_qty == D("0.2")
    assert algo_status(sim, "sl") == "NEW"


def test_a_last_price_stop_beside_a_mark_price_stop_fires_on_a_trade() -> None:
    sim = held()
    assert sim.execute_algo(order("lp", SELL, OrderType.STOP_MARKET, "0.1", trigger="59000", reduce_only=True), 3).ok
    book(sim, "58900", "58900.1", time=4)
    (fill,) = trades(sim.on_trade(BTCUSDT, D("58950"), D("1"), 5, False))
    assert fill.client_order_id == "lp"
    assert (algo_status(sim, "lp"), algo_status(sim, "sl")) == ("FINISHED", "NEW")
