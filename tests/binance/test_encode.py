"""The fake's stream payloads have the real payloads' shapes and parse back to what was encoded."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from rulebot.binance import encode as enc
from rulebot.binance.payloads.market import (
    DepthUpdate,
    Liquidation,
    parse_continuous_kline,
    parse_market_message,
)
from rulebot.binance.payloads.user import (
    ListenKeyExpired,
    MarginCalls,
    MultiAssetsModeChanged,
    TradeLite,
    parse_user_message,
)
from rulebot.core.account_events import (
    AccountUpdate,
    AlgoUpdate,
    BalanceChange,
    LeverageChanged,
    MarginCall,
    OrderUpdate,
    PositionChange,
)
from rulebot.core.enums import (
    MarginType,
    Market,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.testing.shared import PAYLOADS

ORDER = OrderUpdate(
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
ACCOUNT = AccountUpdate(
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
ALGO = AlgoUpdate(
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
    "Reduce Only reject",
    1002,
)
LITE = TradeLite("BTCUSDT", "c1", 7, 99, Side.BUY, D("0.2"), D("60000.1"), D("0.5"), D(0), True, 1003)
CALLS = MarginCalls(
    (MarginCall("ETHUSDT", PositionSide.LONG, D("1.327"), D("187.17127"), D("1.614445"), 1004),),
    D("3.16812045"),
    1004,
)
TRADE = Trade("BTCUSDT", D("60000.1"), D("0.003"), 5, True, 42, 100, 101)
BOOK = BookTop("BTCUSDT", D("60000"), D("1.5"), D("60000.1"), D("2"), 6, 77)
MARK = MarkPrice("BTCUSDT", D("60001"), 7, D("60002"), D("0.0001"), 28_800_000)
CANDLE = CandleClosed("BTCUSDT", "1m", 0, 59_999, D(1), D(2), D("0.5"), D("1.5"), D(10), D(15), 12, D(4))
DIFF = DepthUpdate("BTCUSDT", 11, 13, 10, ((D(1), D(0)),), ((D(2), D(3)),), 8, 7)
LIQ = Liquidation(
    "BTCUSDT",
    Side.SELL,
    "LIMIT",
    "IOC",
    D("0.014"),
    D(9910),
    D(9910),
    OrderStatus.FILLED,
    D("0.014"),
    D("0.014"),
    9,
)


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (a list by its first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


SHAPES = [
    ("ws_ORDER_TRADE_UPDATE", lambda: enc.order_trade_update(ORDER)),
    ("ws_dapi_ORDER_TRADE_UPDATE", lambda: enc.order_trade_update(ORDER, market=Market.COINM)),
    ("ws_ACCOUNT_UPDATE", lambda: enc.account_update(ACCOUNT)),
    ("ws_dapi_ACCOUNT_UPDATE", lambda: enc.account_update(ACCOUNT, market=Market.COINM)),
    ("ws_ALGO_UPDATE", lambda: enc.algo_update(ALGO)),
    ("ws_TRADE_LITE", lambda: enc.trade_lite(LITE)),
    ("ws_MARGIN_CALL", lambda: enc.margin_call(CALLS)),
    (
        "ws_ACCOUNT_CONFIG_UPDATE",
        lambda: enc.account_config_update(LeverageChanged("BTCUSDT", 25, 5)),
    ),
    (
        "ws_ACCOUNT_CONFIG_UPDATE_multiassets",
        lambda: enc.account_config_update(MultiAssetsModeChanged(True, 5)),
    ),
    ("ws_listenKeyExpired", lambda: enc.listen_key_expired("k", 5)),
    ("ws_aggTrade", lambda: enc.agg_trade(TRADE)),
    ("ws_bookTicker", lambda: enc.book_ticker(BOOK)),
    ("ws_markPriceUpdate", lambda: enc.mark_price_update(MARK)),
    ("ws_kline", lambda: enc.kline(CANDLE)),
    ("ws_continuous_kline", lambda: enc.continuous_kline(CANDLE, "BTCUSDT")),
    ("ws_depthUpdate", lambda: enc.depth_diff(DIFF)),
    ("ws_forceOrder", lambda: enc.force_order(LIQ)),
]


@pytest.mark.parametrize(("name", "encode"), SHAPES, ids=[n for n, _ in SHAPES])
def test_every_stream_encoder_has_its_real_payloads_shape(name, encode):
    assert shape(encode()) == shape(payload(name))


def test_every_stream_payload_file_has_an_encoder():
    covered = {n for n, _ in SHAPES} | {"ws_combined_aggTrade", "ws_depthUpdate_partial5"}
    covered |= {"ws_subscribe_request", "ws_subscribe_response"}  # control messages, in the hub
    assert {p.stem for p in PAYLOADS.glob("ws_*.json")} == covered


@pytest.mark.parametrize("market", [Market.USDM, Market.COINM])
def test_user_events_round_trip(market):
    assert parse_user_message(enc.user_payload(ORDER, market)) == ORDER
    assert parse_user_message(enc.user_payload(ACCOUNT, market)) == ACCOUNT
    assert parse_user_message(enc.user_payload(ALGO, market)) == ALGO
    assert parse_user_message(enc.user_payload(LITE, market)) == LITE
    assert parse_user_message(enc.user_payload(CALLS, market)) == CALLS
    one = CALLS.calls[0]
    assert parse_user_message(enc.user_payload(one, market)) == MarginCalls((one,), None, one.time)
    for config in (LeverageChanged("BTCUSDT", 25, 5), MultiAssetsModeChanged(False, 6)):
        assert parse_user_message(enc.user_payload(config, market)) == config
    assert parse_user_message(enc.user_payload(ListenKeyExpired("k", 9))) == ListenKeyExpired("k", 9)
    assert enc.user_payload(TRADE) is None


def test_an_update_without_commission_leaves_n_and_N_out_as_binance_does():
    bare = enc.order_trade_update(replace(ORDER, commission=D(0), commission_asset=""))
    assert "N" not in bare["o"] and "n" not in bare["o"]
    assert parse_user_message(bare).commission_asset == ""


def test_market_events_round_trip():
    for event in (TRADE, BOOK, MARK, CANDLE, DIFF, LIQ):
        assert parse_market_message(enc.market_payload(event)) == event
    no_funding = MarkPrice("BTCUSD_250627", D(60001), 7)  # a delivery contract
    assert parse_market_message(enc.mark_price_update(no_funding)) == no_funding
    got = parse_continuous_kline(enc.continuous_kline(CANDLE, "BTCUSDT", closed=False))
    assert (got.symbol, got.is_closed, got.close) == ("BTCUSDT_PERPETUAL", False, D("1.5"))


def test_each_event_is_published_on_binances_stream_names():
    assert enc.market_streams_of(TRADE) == ("btcusdt@aggTrade",)
    assert enc.market_streams_of(BOOK) == ("btcusdt@bookTicker",)
    assert enc.market_streams_of(MARK) == ("btcusdt@markPrice@1s", "btcusdt@markPrice")
    assert enc.market_streams_of(CANDLE) == ("btcusdt@kline_1m",)
    assert enc.market_streams_of(DIFF) == (
        "btcusdt@depth",
        "btcusdt@depth@100ms",
        "btcusdt@depth@500ms",
    )
    assert enc.market_streams_of(LIQ) == ("btcusdt@forceOrder",)
    assert enc.stream_name(object()) is None and enc.market_payload(object()) is None
