"""Every payload the fake exchange sends parses with the project's own Binance parsers."""

from __future__ import annotations

from decimal import Decimal as D

from rulebot.core.account_events import AccountUpdate, AlgoUpdate, BalanceChange, OrderUpdate, PositionChange
from rulebot.core.enums import MarginType, OrderStatus, OrderType, PositionSide, Side, TimeInForce, WorkingType
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.testing import fake_encode as enc
from rulebot.venues.binance.parse_market import parse_depth_update, parse_market_message
from rulebot.venues.binance.parse_user import parse_user_message


def test_user_events_round_trip():
    order = OrderUpdate(
        "BTCUSDT",
        "c1",
        7,
        Side.BUY,
        OrderType.LIMIT,
        OrderStatus.PARTIALLY_FILLED,
        "TRADE",
        D("0.5"),
        D("60000.1"),
        D("60000.1"),
        D("0.2"),
        D("0.2"),
        D("60000.1"),
        D("2.4"),
        "USDT",
        D(0),
        True,
        False,
        PositionSide.BOTH,
        TimeInForce.GTC,
        None,
        WorkingType.CONTRACT_PRICE,
        99,
        1000,
    )
    assert parse_user_message(enc.order_trade_update(order)) == order
    account = AccountUpdate(
        "ORDER",
        (BalanceChange("USDT", D("9990.5"), D("9000"), D(0)),),
        (
            PositionChange(
                "BTCUSDT",
                PositionSide.BOTH,
                D("0.2"),
                D("60000.1"),
                D("60010"),
                D(0),
                D("-0.02"),
                MarginType.ISOLATED,
                D("1200.5"),
            ),
        ),
        1001,
    )
    assert parse_user_message(enc.account_update(account)) == account
    algo = AlgoUpdate(
        "BTCUSDT",
        "s1",
        3,
        OrderType.STOP_MARKET,
        Side.SELL,
        PositionSide.BOTH,
        "NEW",
        D(0),
        D("59000"),
        None,
        False,
        True,
        WorkingType.MARK_PRICE,
        None,
        None,
        1002,
    )
    assert parse_user_message(enc.algo_update(algo)) == algo


def test_market_events_round_trip():
    trade = Trade("BTCUSDT", D("60000.1"), D("0.003"), 5, True, 42, 100, 101)
    assert parse_market_message(enc.agg_trade(trade)) == trade
    book = BookTop("BTCUSDT", D("60000"), D("1.5"), D("60000.1"), D("2"), 6, 77)
    assert parse_market_message(enc.book_ticker(book, 77)) == book
    mark = MarkPrice("BTCUSDT", D("60001"), 7, D("60002"), D("0.0001"), 28_800_000)
    assert parse_market_message(enc.mark_price_update(mark)) == mark
    candle = CandleClosed("BTCUSDT", "1m", 0, 59_999, D(1), D(2), D("0.5"), D("1.5"), D(10), D(0), 0, D(0))
    got = parse_market_message(enc.kline(candle))
    assert isinstance(got, CandleClosed) and (got.open, got.high, got.low, got.close) == (
        D(1),
        D(2),
        D("0.5"),
        D("1.5"),
    )
    diff = parse_depth_update(enc.depth_update("BTCUSDT", 8, 11, 13, 10, [(D(1), D(0))], [(D(2), D(3))]))
    assert (diff.first_update_id, diff.final_update_id, diff.prev_final_update_id) == (11, 13, 10)
    assert diff.bids == ((D(1), D(0)),) and diff.asks == ((D(2), D(3)),)
