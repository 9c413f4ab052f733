"""Conditional orders: trigger rules, -2021, trailing stops, mark vs contract price, and the
USDⓈ-M algo lifecycle vs COIN-M plain stops."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from rulebot.binance.codes import MESSAGES
from rulebot.core.account_events import AlgoUpdate, OrderUpdate
from rulebot.core.commands import CancelAllOrders, CancelOrder, PlaceOrder
from rulebot.core.enums import (
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.exchange_sim import SimExchange
from rulebot.exchange_sim.conditional import condition_holds

from .conftest import (
    BTCUSD,
    BTCUSDT,
    algo_status,
    algos,
    book,
    coinm,
    limit,
    market,
    order,
    status_of,
    statuses,
    trades,
    usdm,
)

BUY, SELL = Side.BUY, Side.SELL
MARK, CONTRACT = WorkingType.MARK_PRICE, WorkingType.CONTRACT_PRICE
STOP_MARKET, TP_MARKET = OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET


@pytest.mark.parametrize(
    ("order_type", "side", "last", "fires"),
    [
        (OrderType.STOP, BUY, "101", True),
        (OrderType.STOP, BUY, "100", True),
        (OrderType.STOP, BUY, "99", False),
        (STOP_MARKET, SELL, "99", True),
        (STOP_MARKET, SELL, "101", False),
        (OrderType.TAKE_PROFIT, BUY, "99", True),
        (OrderType.TAKE_PROFIT, BUY, "101", False),
        (TP_MARKET, SELL, "101", True),
        (TP_MARKET, SELL, "100", True),
        (TP_MARKET, SELL, "99", False),
    ],
)
def test_trigger_rules_of_facts_6_2(order_type: OrderType, side: Side, last: str, fires: bool) -> None:
    assert condition_holds(order_type, side, D(100), D(last)) is fires


def long_position(qty: str = "0.1") -> SimExchange:
    sim = usdm()
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 0, False)
    sim.on_mark_price(BTCUSDT, D("60000"), 0)
    assert sim.execute(market("open", BUY, qty), 0).ok
    return sim


def test_stop_that_would_trigger_at_once_is_2021() -> None:
    sim = long_position()
    result = sim.execute_algo(order("sl", SELL, STOP_MARKET, "0.1", trigger="60500"), 1)
    assert (result.code, result.message) == (-2021, "Order would immediately trigger.")
    assert sim.execute_algo(order("tp", SELL, TP_MARKET, "0.1", trigger="59000"), 1).code == -2021
    assert sim.execute_algo(order("ok", SELL, STOP_MARKET, "0.1", trigger="59000"), 1).ok


def test_immediate_trigger_is_judged_on_the_working_type_price() -> None:
    sim = long_position()
    sim.on_mark_price(BTCUSDT, D("61000"), 1)  # mark above, last still 60000
    on_last = order("a", SELL, STOP_MARKET, "0.1", trigger="60500")
    on_mark = order("b", SELL, STOP_MARKET, "0.1", trigger="60500", working_type=MARK)
    assert sim.execute_algo(on_last, 2).code == -2021
    assert sim.execute_algo(on_mark, 2).ok


def test_algo_lifecycle_new_triggered_orders_finished() -> None:
    sim = long_position()
    placed = sim.execute_algo(order("sl", SELL, STOP_MARKET, "0.1", trigger="59000", reduce_only=True), 1)
    assert placed.ok and placed.algo is not None and placed.order is None
    assert placed.algo.status == "NEW" and placed.algo.trigger_price == D("59000")
    (new,) = placed.events
    assert isinstance(new, AlgoUpdate) and (new.status, new.order_id) == ("NEW", None)
    assert sim.open_orders() == []  # the algo service holds it, not the matching engine
    assert [a.client_algo_id for a in sim.open_algo_orders()] == ["sl"]

    assert sim.on_trade(BTCUSDT, D("59000.1"), D("1"), 2, True) == []
    events = sim.on_trade(BTCUSDT, D("59000"), D("1"), 3, True)
    assert statuses(events) == [
        ("sl", "ALGO", "TRIGGERED"),
        ("sl", "NEW", "NEW"),
        ("sl", "TRADE", "FILLED"),
        ("sl", "ALGO", "FINISHED"),
    ]
    triggered = algos(events)[0]
    child = next(e for e in events if isinstance(e, OrderUpdate))
    assert triggered.order_id == child.order_id
    assert child.order_type is OrderType.MARKET and child.reduce_only
    # The bid of the last book (59,999.9) is stale next to the 59,000 trade: fill at that.
    assert trades(events)[0].last_filled_price == D("59000")
    assert sim.positions() == []
    view = sim.algo_order(BTCUSDT, "sl")
    assert view is not None and view.status == "FINISHED" and view.filled_qty == D("0.1")
    assert view.trigger_time == 3 and view.order_id == child.order_id
    assert sim.algo_order_by_id(BTCUSDT, view.algo_id) == view
    assert sim.algo_order_by_id("ETHUSDT", view.algo_id) is None


def test_algo_stop_limit_rests_as_a_limit_until_it_fills() -> None:
    sim = long_position()
    cmd = order("sl", SELL, OrderType.STOP, "0.1", price="58000", trigger="59000", reduce_only=True)
    assert sim.execute_algo(cmd, 1).ok
    book(sim, "57000", "57000.1", time=2)
    events = sim.on_trade(BTCUSDT, D("58990"), D("1"), 3, True)
    # The child is a SELL LIMIT at 58000; the book's bid (57000) is below it: it rests.
    assert statuses(events) == [("sl", "ALGO", "TRIGGERED"), ("sl", "NEW", "NEW")]
    assert algo_status(sim, "sl") == "TRIGGERED"
    events = sim.on_trade(BTCUSDT, D("58000.1"), D("1"), 4, False)
    assert statuses(events) == [("sl", "TRADE", "FILLED"), ("sl", "ALGO", "FINISHED")]


@pytest.mark.parametrize(
    ("order_type", "price", "trigger", "fired_at", "fills_at"),
    [
        # A long's take-profit: SELL when last >= trigger; the LIMIT child rests at 61,000.
        (OrderType.TAKE_PROFIT, "61000", "61000", "61000", "61000"),
        # A long's stop-loss as STOP_MARKET: SELL once last <= 59,000, at that trade, as
        # the book's bid (59,999.9) is stale next to it.
        (STOP_MARKET, None, "59000", "58990", "58990"),
    ],
)
def test_algo_types_trigger_and_fill(
    order_type: OrderType, price: str | None, trigger: str, fired_at: str, fills_at: str
) -> None:
    sim = long_position()
    cmd = order("x", SELL, order_type, "0.1", price=price, trigger=trigger, reduce_only=True)
    assert sim.execute_algo(cmd, 1).ok
    events = sim.on_trade(BTCUSDT, D(fired_at), D("1"), 2, D(fired_at) < 60000)
    assert algos(events)[0].status == "TRIGGERED"
    if not trades(events):  # a LIMIT child not marketable yet: rests until a trade reaches it
        events = sim.on_trade(BTCUSDT, D(fills_at) + D("0.1"), D("1"), 3, False)
    (fill,) = trades(events)
    assert fill.last_filled_price == D(fills_at)
    assert sim.positions() == []


def test_coin_m_take_profit_is_a_plain_order() -> None:
    sim = coinm()
    sim.on_trade(BTCUSD, D("50000"), D("10"), 0, False)
    sim.execute(market("open", SELL, "5", symbol=BTCUSD), 0)  # short 5 contracts
    cmd = order("tp", BUY, OrderType.TAKE_PROFIT, "5", symbol=BTCUSD, price="48000", trigger="48000")
    assert sim.execute(cmd, 1).ok
    assert (
        sim.execute(
            order(
                "bad",
                BUY,
                OrderType.TAKE_PROFIT,
                "5",
                symbol=BTCUSD,
                price="51000",
                trigger="51000",
            ),
            1,
        ).code
        == -2021
    )  # a BUY take-profit at or above the last price would fire at once
    events = sim.on_trade(BTCUSD, D("48000"), D("10"), 2, True)
    assert statuses(events)[0] == ("tp", "NEW", "NEW")
    (fill,) = trades(events)  # no book: the LIMIT takes the last trade, within its price
    assert (fill.order_type, fill.last_filled_price) == (OrderType.TAKE_PROFIT, D("48000"))
    assert sim.positions() == []


def test_cancel_an_algo_order() -> None:
    sim = long_position()
    sim.execute_algo(order("sl", SELL, STOP_MARKET, "0.1", trigger="59000"), 1)
    sim.execute_algo(order("tp", SELL, TP_MARKET, "0.1", trigger="61000"), 1)
    result = sim.execute(CancelOrder(BTCUSDT, "sl"), 2)
    assert result.ok and result.algo is not None and result.algo.status == "CANCELED"
    assert statuses(result.events) == [("sl", "ALGO", "CANCELED")]
    again = sim.execute(CancelOrder(BTCUSDT, "sl"), 3)
    assert (again.code, again.message) == (-2011, "Unknown order sent.")
    everything = sim.execute(CancelAllOrders(BTCUSDT), 4)
    assert statuses(everything.events) == [("tp", "ALGO", "CANCELED")]
    assert sim.open_algo_orders() == []


def test_reduce_only_algo_with_nothing_to_reduce_is_canceled_at_trigger() -> None:
    sim = long_position()
    assert sim.execute_algo(order("sl", SELL, STOP_MARKET, "0.1", trigger="59000", reduce_only=True), 1).ok
    sim.execute(market("flat", SELL, "0.1"), 2)
    events = sim.on_trade(BTCUSDT, D("58000"), D("1"), 3, True)
    (update,) = algos(events)
    assert (update.status, update.reason) == ("CANCELED", "Reduce Only reject")  # ws_ALGO_UPDATE
    assert trades(events) == []


def test_algo_has_no_margin_check_before_its_trigger() -> None:
    sim = long_position()
    huge = order("big", BUY, STOP_MARKET, "100", trigger="61000")
    assert sim.execute_algo(huge, 1).ok  # 100 BTC on 10,000 USDT: accepted
    events = sim.on_trade(BTCUSDT, D("61000"), D("1"), 2, False)
    (update,) = algos(events)
    assert (update.status, update.reason) == ("REJECTED", "Margin is insufficient.")


def test_close_position_takes_the_whole_position_at_trigger() -> None:
    sim = long_position("0.3")
    cmd = order("tp", SELL, TP_MARKET, None, trigger="61000", close_position=True)
    placed = sim.execute_algo(cmd, 1)
    assert placed.ok and placed.algo is not None and placed.algo.close_position
    sim.execute(market("more", BUY, "0.2"), 2)
    events = sim.on_trade(BTCUSDT, D("61000"), D("1"), 3, False)
    assert [f.last_filled_qty for f in trades(events)] == [D("0.5")]
    assert sim.positions() == []


def test_mark_price_stops_ignore_trades_and_contract_price_stops_ignore_marks() -> None:
    sim = long_position("0.2")
    sim.execute_algo(order("m", SELL, STOP_MARKET, "0.1", trigger="59000", working_type=MARK), 1)
    sim.execute_algo(order("c", SELL, STOP_MARKET, "0.1", trigger="59000"), 1)
    assert [a.client_algo_id for a in algos(sim.on_mark_price(BTCUSDT, D("58900"), 2))] == [
        "m",
        "m",
    ]
    assert algos(sim.on_mark_price(BTCUSDT, D("58000"), 3)) == []
    assert [a.client_algo_id for a in algos(sim.on_trade(BTCUSDT, D("58900"), D("1"), 4, True))] == [
        "c",
        "c",
    ]


# -- trailing stops --------------------------------------------------------------------------------


def trailing(side: Side, callback: str, activation: str | None = None) -> PlaceOrder:
    return order("ts", side, OrderType.TRAILING_STOP_MARKET, "0.1", callback=callback, activation=activation)


def test_trailing_stop_activates_then_follows_the_best_price() -> None:
    sim = long_position()
    placed = sim.execute_algo(trailing(SELL, "1", "61000"), 1)
    assert placed.ok and placed.algo is not None
    assert (placed.algo.activation_price, placed.algo.callback_rate) == (D("61000"), D("1"))
    for n, price in enumerate(["59000", "60500", "61000", "62000", "61400"], start=2):
        # 59000 is 1 % below nothing yet (not activated); 61400 > 62000 * 0.99 = 61380.
        assert algos(sim.on_trade(BTCUSDT, D(price), D("1"), n, False)) == [], price
    assert sim.open_algo_orders()[0].trigger_price == D("61380")  # 62000 * 0.99
    events = sim.on_trade(BTCUSDT, D("61380"), D("1"), 9, True)
    assert [a.status for a in algos(events)] == ["TRIGGERED", "FINISHED"]
    assert sim.positions() == []


def test_trailing_stop_without_activation_price_starts_at_the_last_price() -> None:
    sim = long_position()
    sim.execute(market("short-more", SELL, "0.2"), 1)  # now short 0.1
    assert sim.execute_algo(trailing(BUY, "0.5"), 2).ok
    assert algos(sim.on_trade(BTCUSDT, D("59500"), D("1"), 3, True)) == []
    # Lowest 59500; 59500 * 1.005 = 59797.5: 59797.4 does not trigger, 59797.5 does.
    assert algos(sim.on_trade(BTCUSDT, D("59797.4"), D("1"), 4, False)) == []
    assert algos(sim.on_trade(BTCUSDT, D("59797.5"), D("1"), 5, False))[0].status == "TRIGGERED"


def test_trailing_stop_checks() -> None:
    sim = long_position()
    passed = sim.execute_algo(trailing(SELL, "1", "59000"), 1)
    assert passed.code == -2021  # a SELL needs its activation above the last price
    assert sim.execute_algo(trailing(BUY, "1", "60000"), 1).code == -2021
    for rate in ("0.05", "10.1"):
        bad = sim.execute_algo(trailing(SELL, rate), 1)
        assert (bad.code, bad.message) == (
            -1130,
            "Data sent for parameter 'callbackRate' is not valid.",
        )
    missing = sim.execute_algo(trailing(SELL, "1"), 1)
    assert missing.ok


# -- COIN-M: conditionals are plain orders --------------------------------------------------------


def test_coin_m_stop_is_a_plain_order_that_triggers_into_a_limit() -> None:
    sim = coinm()
    sim.on_book(BTCUSD, D("49999.9"), D("1000"), D("50000"), D("1000"), 0)
    sim.on_trade(BTCUSD, D("50000"), D("10"), 0, False)
    assert sim.execute(market("open", BUY, "10", symbol=BTCUSD), 0).ok
    cmd = order(
        "sl",
        SELL,
        OrderType.STOP,
        "10",
        symbol=BTCUSD,
        price="48000",
        trigger="49000",
        reduce_only=True,
    )
    placed = sim.execute(cmd, 1)
    assert statuses(placed.events) == [("sl", "NEW", "NEW")]
    immediate = order("x", SELL, OrderType.STOP, "1", symbol=BTCUSD, price="49000", trigger="50500")
    assert sim.execute(immediate, 1).code == -2021
    sim.on_book(BTCUSD, D("48500"), D("1000"), D("48500.1"), D("1000"), 2)
    events = sim.on_trade(BTCUSD, D("48900"), D("10"), 3, True)
    # It keeps its id, client id and type, and executes as a SELL LIMIT at 48000: the bid
    # (48500) is above it, so it takes the bid.
    assert statuses(events) == [("sl", "NEW", "NEW"), ("sl", "TRADE", "FILLED")]
    (fill,) = trades(events)
    assert (fill.client_order_id, fill.order_type, fill.status) == (
        "sl",
        OrderType.STOP,
        OrderStatus.FILLED,
    )
    assert placed.order is not None and fill.order_id == placed.order.order_id
    assert fill.last_filled_price == D("48500") and fill.commission_asset == "BTC"
    assert sim.positions() == []


def test_coin_m_trailing_stop_is_a_plain_order() -> None:
    sim = coinm()
    sim.on_trade(BTCUSD, D("50000"), D("10"), 0, False)
    sim.execute(market("open", BUY, "1", symbol=BTCUSD), 0)
    cmd = order(
        "ts",
        SELL,
        OrderType.TRAILING_STOP_MARKET,
        "1",
        symbol=BTCUSD,
        callback="2",
        reduce_only=True,
    )
    assert sim.execute(cmd, 1).ok
    assert [o.client_order_id for o in sim.open_orders()] == ["ts"]
    sim.on_trade(BTCUSD, D("51000"), D("1"), 2, False)
    events = sim.on_trade(BTCUSD, D("49980"), D("1"), 3, True)  # 51000 * 0.98 = 49980
    assert [(u.client_order_id, u.status) for u in trades(events)] == [("ts", OrderStatus.FILLED)]


def test_cancel_all_cancels_plain_and_coin_m_stop_orders() -> None:
    sim = coinm()
    sim.on_trade(BTCUSD, D("50000"), D("10"), 0, False)
    sim.execute(limit("l", BUY, "1", "49000", symbol=BTCUSD), 1)
    sim.execute(order("s", BUY, OrderType.STOP, "1", symbol=BTCUSD, price="51000", trigger="51000"), 1)
    result = sim.execute(CancelAllOrders(BTCUSD), 2)
    assert statuses(result.events) == [("l", "CANCELED", "CANCELED"), ("s", "CANCELED", "CANCELED")]
    assert sim.open_orders() == []


def test_coin_m_reduce_only_stop_with_nothing_to_close_expires_at_trigger() -> None:
    sim = coinm()
    sim.on_trade(BTCUSD, D("50000"), D("10"), 0, False)
    sim.execute(market("open", BUY, "1", symbol=BTCUSD), 0)
    stop = order("sl", SELL, OrderType.STOP, "1", symbol=BTCUSD, price="48000", trigger="49000")
    assert sim.execute(replace(stop, reduce_only=True), 1).ok
    sim.execute(market("flat", SELL, "1", symbol=BTCUSD), 2)
    events = sim.on_trade(BTCUSD, D("48900"), D("1"), 3, True)
    assert statuses(events) == [("sl", "EXPIRED", "EXPIRED")]


def test_post_only_child_that_would_take_at_trigger_rejects_the_algo() -> None:
    sim = long_position()
    cmd = order(
        "tp",
        SELL,
        OrderType.TAKE_PROFIT,
        "0.1",
        price="59000",
        trigger="61000",
        tif=TimeInForce.GTX,
    )
    assert sim.execute_algo(cmd, 1).ok
    events = sim.on_trade(BTCUSDT, D("61000"), D("1"), 2, False)
    assert [(a.status, a.reason) for a in algos(events)] == [
        ("TRIGGERED", None),
        ("REJECTED", MESSAGES[-5022]),
    ]
    assert status_of(sim, "tp") is OrderStatus.REJECTED


def test_conditional_parameters_are_mandatory() -> None:
    sim = long_position()
    no_rate = order("t", SELL, OrderType.TRAILING_STOP_MARKET, "0.1")
    assert sim.execute_algo(no_rate, 1).message == (
        "Mandatory parameter 'callbackRate' was not sent, was empty/null, or malformed."
    )
    no_trigger = order("s", SELL, STOP_MARKET, "0.1")
    assert sim.execute_algo(no_trigger, 1).code == -1102


def test_hedge_close_position_only_on_the_closing_side() -> None:
    sim = usdm(hedge_mode=True)
    book(sim, "59999.9", "60000")
    sim.on_trade(BTCUSDT, D("60000"), D("1"), 0, False)
    wrong = order("a", BUY, TP_MARKET, None, trigger="59000", close_position=True, ps=PositionSide.LONG)
    assert sim.execute_algo(wrong, 1).code == -2022
    right = order("b", SELL, TP_MARKET, None, trigger="61000", close_position=True, ps=PositionSide.LONG)
    assert sim.execute_algo(right, 1).ok
