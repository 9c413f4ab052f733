"""What the simulator refuses at placement, with Binance's codes and messages."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from rulebot.core.commands import CancelOrder, Command
from rulebot.core.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce
from rulebot.exchange_sim import SimExchange

from .conftest import (
    BTCUSD,
    BTCUSDT,
    book,
    coinm,
    limit,
    load_payload,
    market,
    order,
    status_of,
    statuses,
    trades,
    usdm,
)

BUY, SELL = Side.BUY, Side.SELL


def code(sim: SimExchange, cmd: Command, time: int = 1) -> int | None:
    result = sim.execute(cmd, time)
    assert result.ok == (result.code is None)
    return result.code


@pytest.fixture
def sim() -> SimExchange:
    s = usdm()
    book(s, "59999.9", "60000")
    s.on_mark_price(BTCUSDT, D("60000"), 0)
    return s


def test_unknown_symbol_is_1121(sim: SimExchange) -> None:
    assert code(sim, market("x", BUY, "0.1", symbol="ETHBTC")) == -1121
    assert code(sim, CancelOrder("ETHBTC", "x")) == -1121


def test_client_order_id_rules(sim: SimExchange) -> None:
    assert code(sim, limit("x" * 37, BUY, "0.1", "59000")) == -4015
    assert code(sim, limit("bad id!", BUY, "0.1", "59000")) == -1100
    assert code(sim, limit("ok-._:/1", BUY, "0.1", "59000")) is None
    dup = sim.execute(limit("ok-._:/1", BUY, "0.1", "58000"), 2)
    assert (dup.code, dup.message) == (-4116, "clientOrderId is duplicated")
    # Once the first is no longer open, the id may be used again.
    sim.execute(CancelOrder(BTCUSDT, "ok-._:/1"), 3)
    assert code(sim, limit("ok-._:/1", BUY, "0.1", "58000")) is None
    # An empty id is made up, as Binance does.
    result = sim.execute(limit("", BUY, "0.1", "58000"), 4)
    assert result.order is not None and result.order.client_order_id.startswith("sim_")


def test_filters_come_from_check_order(sim: SimExchange) -> None:
    assert code(sim, limit("a", BUY, "0.1", "59000.05")) == -4014
    assert code(sim, limit("b", BUY, "0.0001", "59000")) == -4004
    assert code(sim, limit("c", BUY, "0.0015", "59000")) == -1111
    assert code(sim, limit("d", BUY, "2000", "59000")) == -4005
    assert code(sim, limit("e", BUY, "0.1", "70000")) == -4016  # > mark * 1.1
    assert code(sim, limit("f", BUY, "0.1", "59000", tif=TimeInForce.GTD)) == -1115


def test_min_notional_is_4164_unless_reduce_only(sim: SimExchange) -> None:
    # MIN_NOTIONAL 10 USDT: 0.001 BTC at 9000 is 9 USDT (a limit is checked at its price).
    result = sim.execute(limit("a", BUY, "0.001", "9000"), 1)
    assert (result.code, result.message) == (
        -4164,
        "Order's notional must be no smaller than 10 (unless you choose reduce only).",
    )
    assert load_payload("rest_error_-4164.json")["msg"].replace(" 5 ", " 10 ") == result.message
    # A market order is checked at the mark price: 0.001 * 60000 passes.
    assert code(sim, market("b", BUY, "0.001")) is None
    # Reduce-only is exempt from MIN_NOTIONAL; PERCENT_PRICE (floor: mark * 0.5454) is not.
    assert code(sim, limit("c", SELL, "0.001", "9000", reduce_only=True)) == -4024


def test_limit_without_time_in_force_is_1102(sim: SimExchange) -> None:
    cmd = order("a", BUY, OrderType.LIMIT, "0.1", price="59000", tif=None)
    object.__setattr__(cmd, "time_in_force", None)
    result = sim.execute(cmd, 1)
    assert (result.code, result.message) == (
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    )


# -- reduce-only ------------------------------------------------------------------------------


def test_reduce_only_without_a_position_to_reduce_is_2022(sim: SimExchange) -> None:
    result = sim.execute(market("r", SELL, "0.1", reduce_only=True), 1)
    assert (result.code, result.message) == (-2022, "ReduceOnly Order is rejected.")
    sim.execute(market("open", BUY, "0.1"), 2)
    assert code(sim, market("same-way", BUY, "0.1", reduce_only=True), 3) == -2022


def test_reduce_only_shrinks_to_the_position(sim: SimExchange) -> None:
    sim.execute(market("open", BUY, "0.3"), 1)
    result = sim.execute(limit("tp", SELL, "1", "61000", reduce_only=True), 2)
    assert result.ok and result.order is not None
    assert result.order.quantity == D("0.3")
    events = sim.on_trade(BTCUSDT, D("61500"), D("5"), 3, False)
    assert sum(f.last_filled_qty for f in trades(events)) == D("0.3")
    assert sim.positions() == []


def test_resting_reduce_only_expires_when_its_position_is_gone(sim: SimExchange) -> None:
    sim.execute(market("open", BUY, "0.3"), 1)
    sim.execute(limit("tp", SELL, "0.3", "65000", reduce_only=True), 2)
    result = sim.execute(market("close", SELL, "0.3"), 3)
    assert ("tp", "EXPIRED", "EXPIRED") in statuses(result.events)
    assert sim.open_orders() == []


def test_resting_reduce_only_never_fills_more_than_the_position(sim: SimExchange) -> None:
    sim.execute(market("open", BUY, "0.3"), 1)
    sim.execute(limit("tp", SELL, "0.3", "61000", reduce_only=True), 2)
    sim.execute(market("part", SELL, "0.2"), 3)  # the position is now 0.1
    events = sim.on_trade(BTCUSDT, D("62000"), D("5"), 4, False)
    assert [f.last_filled_qty for f in trades(events)] == [D("0.1")]
    assert status_of(sim, "tp") is OrderStatus.EXPIRED
    assert sim.positions() == []


# -- margin and leverage ---------------------------------------------------------------------


def test_margin_insufficient_is_2019(sim: SimExchange) -> None:
    # 10,000 USDT at 20x buys at most 200,000 USDT of notional: 3.4 BTC at 60,000 = 204,000.
    result = sim.execute(market("big", BUY, "3.4"), 1)
    assert (result.code, result.message) == (-2019, "Margin is insufficient.")
    # 3.3 BTC would need 3.3 * 60,030 / 20 = 9,904.95 of initial margin plus 3.3 * 30 = 99
    # of open loss (the FAQ's assumed price ask * 1.0005 = 60,030 against the mark 60,000).
    assert code(sim, market("fits", BUY, "3.2"), 2) is None
    # Open limit orders hold margin too: what is left (about 400 USDT) is not 0.2 BTC's 590.
    assert code(sim, limit("more", BUY, "0.2", "59000"), 3) == -2019


def test_reducing_orders_need_no_margin(sim: SimExchange) -> None:
    sim.execute(market("fits", BUY, "3.2"), 1)
    assert code(sim, market("cut", SELL, "1"), 2) is None
    # A sell larger than the long: the part beyond it opens a short, which needs margin.
    assert code(sim, market("flip", SELL, "6"), 3) == -2019


def test_one_side_of_open_orders_is_charged_in_one_way_mode(sim: SimExchange) -> None:
    assert code(sim, limit("buy", BUY, "3", "59000")) is None
    before = sim.account("USDT").open_order_initial_margin
    assert code(sim, limit("sell", SELL, "3", "61000")) is None
    after = sim.account("USDT").open_order_initial_margin
    assert before == D(3) * D(59000) / 20
    assert after == D(3) * D(61000) / 20  # the larger side, not the sum


def test_position_beyond_the_leverage_cap_is_2027() -> None:
    sim = usdm("1000000000", default_leverage=125)
    book(sim, "59999.9", "60000")
    # Bracket 1 caps 125x at 50,000 USDT of notional: 0.84 BTC at 60,000 = 50,400.
    assert code(sim, market("a", BUY, "0.84")) == -2027
    assert code(sim, market("b", BUY, "0.8")) is None
    assert code(sim, limit("c", BUY, "0.05", "59000")) == -2027


# -- endpoints, sides ----------------------------------------------------------------------------


def test_conditional_as_a_plain_usdm_order_is_4120(sim: SimExchange) -> None:
    for order_type in (
        OrderType.STOP,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    ):
        cmd = order("s", SELL, order_type, "0.1", price="59000", trigger="59000", callback="1")
        result = sim.execute(cmd, 1)
        assert (result.code, result.message) == (
            -4120,
            load_payload("rest_error_-4120.json")["msg"],
        )
    assert sim.execute_algo(market("m", BUY, "0.1"), 2).code == -1116


def test_conditional_is_a_plain_order_on_coin_m() -> None:
    sim = coinm()
    sim.on_trade(BTCUSD, D("50000"), D("10"), 0, False)
    cmd = order("s", SELL, OrderType.STOP, "1", symbol=BTCUSD, price="49000", trigger="49500")
    result = sim.execute(cmd, 1)
    assert result.ok and result.order is not None
    assert result.order.order_type is OrderType.STOP
    assert result.order.trigger_price == D("49500")
    assert sim.execute_algo(cmd, 2).code == -1020
    # The real dapi exchangeInfo lists no STOP_MARKET for this symbol: -1116 from the filters.
    no_type = order("t", SELL, OrderType.STOP_MARKET, "1", symbol=BTCUSD, trigger="49500")
    assert sim.execute(no_type, 3).code == -1116


def test_position_side_must_match_the_mode() -> None:
    one_way = usdm()
    book(one_way, "59999.9", "60000")
    assert code(one_way, market("a", BUY, "0.1", ps=PositionSide.LONG)) == -4061
    hedge = usdm(hedge_mode=True)
    book(hedge, "59999.9", "60000")
    result = hedge.execute(market("b", BUY, "0.1"), 1)
    assert (result.code, result.message) == (
        -4061,
        "Order's position side does not match user's setting.",
    )
    reduce = market("c", SELL, "0.1", ps=PositionSide.LONG, reduce_only=True)
    assert code(hedge, reduce) == -1106
    assert code(hedge, market("d", SELL, "0.1", ps=PositionSide.LONG)) == -2022  # nothing held


def test_close_position_rules(sim: SimExchange) -> None:
    with_qty = order("a", SELL, OrderType.STOP_MARKET, "0.1", trigger="59000", close_position=True)
    assert sim.execute_algo(with_qty, 1).code == -4137
    both = order(
        "b",
        SELL,
        OrderType.STOP_MARKET,
        None,
        trigger="59000",
        close_position=True,
        reduce_only=True,
    )
    assert sim.execute_algo(both, 1).code == -1106
    assert sim.execute(market("c", SELL, None, close_position=True), 1).code == -1106
