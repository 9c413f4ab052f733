"""Every real Binance payload in ../shared/binance/payloads/ is claimed by a parser and parses,
with spot-checked values. A new payload file that no row of CLAIMS matches fails the test."""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from rulebot.binance.codes import BinanceError, PayloadError, error_class
from rulebot.binance.payloads import account_state, market_data, orders, rest
from rulebot.binance.payloads.market import (
    ControlReply,
    DepthUpdate,
    KlineUpdate,
    Liquidation,
    parse_market_message,
)
from rulebot.binance.payloads.user import (
    ListenKeyExpired,
    MarginCalls,
    MultiAssetsModeChanged,
    TradeLite,
    fill_key,
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
from rulebot.core.events import BookTop, CandleClosed, FundingRate, MarkPrice, Trade
from rulebot.core.fees import FeeRates
from rulebot.testing.shared import PAYLOADS, require

D = Decimal

require(PAYLOADS)  # these tests read the real payloads: without them they fail, never skip


def _json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _market(path: Path, **kw: Any) -> Any:
    """A market frame through the dispatcher, as bytes off the wire; the user dispatcher must
    see nothing in it (a stream is parsed by one dispatcher only)."""
    raw = path.read_bytes()
    assert parse_user_message(raw) is None
    return parse_market_message(raw, **kw)


def _user(path: Path) -> Any:
    raw = path.read_bytes()
    assert parse_market_message(raw) is None
    return parse_user_message(raw)


# -- market streams ---------------------------------------------------------------------------

AGG_TRADE = Trade("BTCUSDT", D("0.001"), D("100"), 123456785, True, 5933014, 100, 105)


def check_agg_trade(path: Path) -> None:
    assert _market(path) == AGG_TRADE


def check_book_ticker(path: Path) -> None:
    assert _market(path) == BookTop(
        "BNBUSDT",
        D("25.35190000"),
        D("31.21000000"),
        D("25.36520000"),
        D("40.66000000"),
        1568014460893,
        400900217,
    )


def check_mark_price(path: Path) -> None:
    assert _market(path) == MarkPrice(
        "BTCUSDT",
        D("11794.15000000"),
        1562305380000,
        D("11784.62659091"),
        D("0.00038167"),
        1562306400000,
    )


def check_kline(path: Path) -> None:
    assert _market(path) is None  # x: false, the candle is still forming
    k = _market(path, open_klines=True)
    assert k == KlineUpdate(
        "BTCUSDT",
        "1m",
        1638747660000,
        1638747719999,
        D("0.0010"),
        D("0.0025"),
        D("0.0015"),
        D("0.0020"),
        D("1000"),
        D("1.0000"),
        100,
        D("500"),
        False,
        1638747660000,
    )


def check_continuous_kline(path: Path) -> None:
    assert _market(path) is None
    k = _market(path, open_klines=True)
    assert isinstance(k, KlineUpdate)
    assert (k.symbol, k.timeframe, k.open_time, k.close_time) == (
        "BTCUSDT_PERPETUAL",
        "1m",
        1607443020000,
        1607443079999,
    )
    assert (k.open, k.close, k.volume, k.trades) == (
        D("18787.00"),
        D("18804.04"),
        D("197.664"),
        543,
    )
    assert (k.taker_buy_volume, k.quote_volume) == (D("184.769"), D("3715253.19494"))


def check_depth_diff(path: Path) -> None:
    assert _market(path) == DepthUpdate(
        "BTCUSDT",
        157,
        160,
        149,
        ((D("0.0024"), D("10")),),
        ((D("0.0026"), D("100")),),
        123456789,
        123456788,
    )


def check_depth_partial(path: Path) -> None:
    u = _market(path)
    assert isinstance(u, DepthUpdate)
    assert (u.first_update_id, u.final_update_id, u.prev_final_update_id) == (
        390497796,
        390497878,
        390497794,
    )
    assert len(u.bids) == len(u.asks) == 5
    assert u.bids[1] == (D("7403.90"), D("3.906"))
    assert u.asks[-1] == (D("7407.20"), D("0.175"))
    assert str(u.asks[1][1]) == "4.525"  # exact, not via float


def check_force_order(path: Path) -> None:
    assert _market(path) == Liquidation(
        "BTCUSDT",
        Side.SELL,
        "LIMIT",
        "IOC",
        D("0.014"),
        D("9910"),
        D("9910"),
        OrderStatus.FILLED,
        D("0.014"),
        D("0.014"),
        1568014460893,
    )


def check_subscribe_request(path: Path) -> None:
    # Outgoing: what we send, not what we parse. It must not pass for an event either.
    assert _json(path) == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@aggTrade", "btcusdt@depth"],
        "id": 1,
    }
    assert _market(path) is None


def check_subscribe_response(path: Path) -> None:
    assert _market(path) == ControlReply(1, None)


# -- user data stream --------------------------------------------------------------------------


def check_account_update(path: Path) -> None:
    u = _user(path)
    assert isinstance(u, AccountUpdate)
    assert (u.reason, u.time, len(u.balances), len(u.positions)) == ("ORDER", 1564745798938, 2, 3)
    assert u.balances[1] == BalanceChange("BUSD", D("1.00000000"), D("0"), D("-49.12345678"))
    assert u.positions[2] == PositionChange(
        "BTCUSDT",
        PositionSide.SHORT,
        D("-10"),
        D("6563.86000"),
        D("6563.6"),
        D("-45.04000000"),
        D("-1423.15600"),
        MarginType.ISOLATED,
        D("6570.42511771"),
    )


def check_dapi_account_update(path: Path) -> None:
    u = _user(path)
    assert isinstance(u, AccountUpdate)
    assert [b.asset for b in u.balances] == ["BTC", "ETH"]
    assert u.positions[1] == PositionChange(
        "BTCUSD_200925",
        PositionSide.LONG,
        D("20"),
        D("6563.6"),
        D("6563.7"),
        D("0"),
        D("2850.21200000"),
        MarginType.ISOLATED,
        D("13200.70726908"),
    )


def check_order_trade_update(path: Path) -> None:
    u = _user(path)
    assert isinstance(u, OrderUpdate)
    assert (u.symbol, u.client_order_id, u.order_id, u.side) == (
        "BTCUSDT",
        "TEST",
        8886774,
        Side.SELL,
    )
    assert (u.order_type, u.status, u.execution_type) == (
        OrderType.TRAILING_STOP_MARKET,
        OrderStatus.NEW,
        "NEW",
    )
    assert (u.quantity, u.price, u.filled_qty, u.last_filled_qty) == (D("0.001"), D(0), D(0), D(0))
    assert (u.commission, u.commission_asset, u.realized_pnl) == (D("0"), "USDT", D("0"))
    assert (u.position_side, u.time_in_force, u.working_type) == (
        PositionSide.LONG,
        TimeInForce.GTC,
        WorkingType.CONTRACT_PRICE,
    )
    # Binance: ignore `sp` of a trailing stop; `t` 0 means no trade.
    assert (u.trigger_price, u.trade_id, u.reject_code) == (None, None, None)
    assert (u.time, u.reduce_only, u.is_maker) == (1568879465650, False, False)
    assert fill_key(u) is None


def check_dapi_order_trade_update(path: Path) -> None:
    u = _user(path)
    assert isinstance(u, OrderUpdate)
    assert (u.symbol, u.order_id, u.quantity, u.commission_asset) == (
        "BTCUSD_200925",
        8888888,
        D("2"),
        "BTC",
    )
    assert u.time == 1591274595442


def check_trade_lite(path: Path) -> None:
    u = _user(path)
    assert u == TradeLite(
        "BTCUSDT",
        "z8hcUoOsqEdKMeKPSABslD",
        8886774,
        109100866,
        Side.BUY,
        D("0.040"),
        D("64089.20"),
        D("0.001"),
        D("0"),
        False,
        1721895408214,
    )
    assert fill_key(u) == ("BTCUSDT", 8886774, 109100866)


def check_algo_update(path: Path) -> None:
    assert _user(path) == AlgoUpdate(
        "BNBUSDT",
        "Q5xaq5EGKgXXa0fD7fs0Ip",
        2148719,
        OrderType.TAKE_PROFIT,
        Side.SELL,
        PositionSide.BOTH,
        "CANCELED",
        D("0.01"),
        D("750"),
        D("750"),
        False,
        False,
        WorkingType.CONTRACT_PRICE,
        None,
        "Reduce Only reject",
        1750515742297,
    )


def check_margin_call(path: Path) -> None:
    call = MarginCall("ETHUSDT", PositionSide.LONG, D("1.327"), D("187.17127"), D("1.614445"), 1587727187525)
    assert _user(path) == MarginCalls((call,), D("3.16812045"), 1587727187525)


def check_account_config_leverage(path: Path) -> None:
    assert _user(path) == LeverageChanged("BTCUSDT", 25, 1611646737476)


def check_account_config_multiassets(path: Path) -> None:
    assert _user(path) == MultiAssetsModeChanged(True, 1611646737476)


def check_listen_key_expired(path: Path) -> None:
    u = _user(path)
    assert isinstance(u, ListenKeyExpired)
    assert u.listen_key.startswith("WsCMN0a4") and u.time == 1736996475556


# -- REST -------------------------------------------------------------------------------------


def check_order_new(path: Path) -> None:
    o = orders.parse_order(_json(path))
    assert (o.order_id, o.client_order_id, o.order_type, o.status) == (
        22542179,
        "testOrder",
        OrderType.LIMIT,
        OrderStatus.NEW,
    )
    assert (o.time_in_force, o.good_till_date, o.quantity, o.cum_quote) == (
        TimeInForce.GTD,
        1693207680000,
        D("10"),
        D("0"),
    )
    assert (o.trigger_price, o.time, o.update_time) == (None, None, 1566818724722)


def check_order_cancel(path: Path) -> None:
    o = orders.parse_order(_json(path))
    assert (o.order_id, o.status, o.order_type) == (
        283194212,
        OrderStatus.CANCELED,
        OrderType.TRAILING_STOP_MARKET,
    )
    assert (o.trigger_price, o.activation_price, o.callback_rate) == (
        D("9300"),
        D("9020"),
        D("0.3"),
    )
    assert (o.side, o.position_side) == (Side.BUY, PositionSide.SHORT)


def check_open_orders(path: Path) -> None:
    (o,) = orders.parse_orders(_json(path))
    assert (o.order_id, o.quantity, o.time, o.price_match) == (
        1917641,
        D("0.40"),
        1579276756075,
        None,
    )


def check_algo_order(path: Path) -> None:
    a = orders.parse_algo_order(_json(path))
    assert (a.algo_id, a.client_algo_id, a.algo_type, a.order_type) == (
        2146760,
        "6B2I9XVcJpCjqPAJ4YoFX7",
        "CONDITIONAL",
        OrderType.TAKE_PROFIT,
    )
    assert (a.trigger_price, a.price, a.status) == (D("750.000"), D("750.000"), "NEW")
    assert (a.activation_price, a.callback_rate, a.trigger_time) == (None, None, None)
    assert a.self_trade_prevention == "EXPIRE_MAKER"


def check_position_risk(path: Path) -> None:
    long, short = account_state.parse_position_risk(_json(path))
    assert (long.position_side, long.amount, long.entry_price, long.leverage) == (
        PositionSide.LONG,
        D("0.001"),
        D("22185.2"),
        4,
    )
    assert (long.liquidation_price, long.notional, long.margin_type) == (
        D("19731.45529116"),
        D("21.12305052"),
        MarginType.CROSSED,
    )
    assert (long.max_notional, long.max_qty, long.auto_add_margin) == (D("100000000"), None, False)
    assert (short.amount, short.update_time) == (D(0), 0)


def check_position_risk_hedge(path: Path) -> None:
    long, short = account_state.parse_position_risk(_json(path))
    assert (long.position_side, long.amount, long.margin_type) == (
        PositionSide.LONG,
        D("20.000"),
        MarginType.ISOLATED,
    )
    assert (short.position_side, short.amount, short.isolated_margin) == (
        PositionSide.SHORT,
        D("-10.000"),
        D("5413.95799991"),
    )
    assert long.break_even_price is None  # the older example predates breakEvenPrice


def check_dapi_position_risk(path: Path) -> None:
    rows = account_state.parse_position_risk(_json(path))
    assert [r.position_side for r in rows] == [
        PositionSide.BOTH,
        PositionSide.LONG,
        PositionSide.SHORT,
    ]
    assert (rows[1].amount, rows[1].leverage, rows[1].max_qty, rows[1].max_notional) == (
        D("1"),
        125,
        D("50"),
        None,
    )
    assert rows[1].unrealized_pnl == D("0.00005866")


def check_balance(path: Path) -> None:
    (b,) = account_state.parse_balances(_json(path))
    assert (b.asset, b.wallet_balance, b.available_balance, b.margin_available) == (
        "USDT",
        D("122607.35137903"),
        D("23.72469206"),
        True,
    )


def check_user_trades(path: Path) -> None:
    first, second = account_state.parse_user_trades(_json(path))
    assert (first.trade_id, first.order_id, first.side, first.commission) == (
        82357626,
        831238666,
        Side.SELL,
        D("0.00555670"),
    )
    # 0.04 % taker fee of 2022 (FACTS.md §12): qty x price x rate.
    assert first.quote_qty == first.qty * first.price
    assert first.commission == first.quote_qty * D("0.0004")
    assert (second.realized_pnl, second.is_buyer, second.fill_key) == (
        D("-0.00325000"),
        True,
        ("ETHUSDT", 831238690, 82357629),
    )


def check_klines(path: Path) -> None:
    (c,) = market_data.parse_klines(_json(path), "BTCUSDT", "1w")
    assert c == CandleClosed(
        "BTCUSDT",
        "1w",
        1499040000000,
        1499644799999,
        D("0.01634790"),
        D("0.80000000"),
        D("0.01575800"),
        D("0.01577100"),
        D("148976.11427815"),
        D("2434.19055334"),
        308,
        D("1756.87402397"),
    )


def check_depth(path: Path) -> None:
    s = market_data.parse_depth(_json(path), "BTCUSDT")
    assert (s.last_update_id, s.time, s.transaction_time) == (1027024, 1589436922972, 1589436922959)
    assert (s.bids, s.asks) == (((D("4"), D("431")),), ((D("4.000002"), D("12")),))


def check_premium_index(path: Path) -> None:
    info = market_data.parse_premium_index(_json(path))
    assert info.mark == MarkPrice(
        "BTCUSDT",
        D("11793.63104562"),
        1597370495002,
        D("11781.80495970"),
        D("0.00038246"),
        1597392000000,
    )
    assert (info.interest_rate, info.estimated_settle_price) == (D("0.0001"), D("11781.16138815"))


def check_funding_rate(path: Path) -> None:
    assert market_data.parse_funding_rates(_json(path)) == (
        FundingRate("BTCUSDT", D("-0.03750000"), 1570608000000, D("34287.54619963")),
        FundingRate("BTCUSDT", D("0.00010000"), 1570636800000, D("34287.54619963")),
    )


def check_funding_info(path: Path) -> None:
    info = market_data.parse_funding_info(_json(path))
    assert info["BLZUSDT"] == market_data.FundingInfo("BLZUSDT", 8, D("0.025"), D("-0.025"))


def check_listen_key(path: Path) -> None:
    assert account_state.parse_listen_key(_json(path)) == (
        "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
    )


def check_leverage(path: Path) -> None:
    assert account_state.parse_leverage(_json(path)) == account_state.LeverageSetting("BTCUSDT", 21, D("1000000"), None)


def check_commission(path: Path) -> None:
    rates = account_state.parse_commission_rate(_json(path))
    expected = {
        "rest_fapi_v1_commissionRate.json": FeeRates(D("0.0002"), D("0.0004")),
        "rest_dapi_v1_commissionRate.json": FeeRates(D("0.00015"), D("0.00040")),
    }
    assert rates == expected[path.name]


def check_exchange_info(path: Path) -> None:
    market = Market.COINM if "_dapi_" in path.name else Market.USDM
    instruments = rest.parse_exchange_info(_json(path), market)
    expected = {
        "rest_fapi_v1_exchangeInfo.json": ("BTCUSDT", D("0.10"), D("0.001"), D(1)),
        "rest_fapi_v1_exchangeInfo_docs.json": ("BLZUSDT", D("0.0001"), D("1"), D(1)),
        "rest_dapi_v1_exchangeInfo.json": ("BTCUSD_200925", D("0.1"), D("1"), D(100)),
    }
    symbol, tick, step, size = expected[path.name]
    inst = instruments[symbol]
    assert (inst.price_filter.tick_size, inst.lot_size.step_size, inst.contract_size) == (
        tick,
        step,
        size,
    )
    limits = rest.parse_rate_limits(_json(path))
    weight = next(r for r in limits if r.kind == "REQUEST_WEIGHT")
    assert weight.window_ms == 60_000
    # The 2022 capture says 6000/min where the docs example says 2400 (FACTS.md §4).
    want = {"rest_fapi_v1_exchangeInfo_docs.json": 2400}.get(path.name, 6000)
    assert weight.limit == want


def check_leverage_bracket(path: Path) -> None:
    market = Market.COINM if "_dapi_" in path.name else Market.USDM
    tables = rest.parse_leverage_brackets(_json(path), market)
    expected = {
        "rest_fapi_v1_leverageBracket.json": ("BTCUSDT", 12, D("421481450.0")),
        "rest_fapi_v1_leverageBracket_docs.json": ("ETHUSDT", 1, D("0.0")),
        "rest_dapi_v2_leverageBracket.json": ("BTCUSD_PERP", 1, D("0.0")),
    }
    symbol, count, last_cum = expected[path.name]
    assert len(tables[symbol].brackets) == count
    assert tables[symbol].brackets[-1].cum == last_cum


def check_error(path: Path) -> None:
    code = int(re.fullmatch(r"rest_error_(-\d+)\.json", path.name).group(1))  # type: ignore[union-attr]
    body = _json(path)
    with pytest.raises(BinanceError) as caught:
        rest.check_error(body, 400)
    err = caught.value
    assert (err.code, err.msg, err.http_status) == (code, body["msg"], 400)
    assert type(err) is error_class(code)
    assert type(err) is not BinanceError, f"{code} has a payload, so it deserves a subclass"


def check_sources(path: Path) -> None:
    """The provenance file names every payload, so none is of unknown origin."""
    text = path.read_text(encoding="utf-8")
    missing = [p.name for p in PAYLOADS.glob("*.json") if p.name not in text]
    # The error files are listed by code ("rest_error_-2019.json, -1021, ...").
    missing = [n for n in missing if not (n.startswith("rest_error_") and n[11:-5] in text)]
    assert not missing, f"SOURCES.md does not say where these come from: {missing}"


# Filename pattern → what checks it. Exact names where each file has its own values; a
# pattern for families whose name carries the expectation (the error code).
CLAIMS: dict[str, Callable[[Path], None]] = {
    "SOURCES.md": check_sources,
    "ws_aggTrade.json": check_agg_trade,
    "ws_combined_aggTrade.json": check_agg_trade,
    "ws_bookTicker.json": check_book_ticker,
    "ws_markPriceUpdate.json": check_mark_price,
    "ws_kline.json": check_kline,
    "ws_continuous_kline.json": check_continuous_kline,
    "ws_depthUpdate.json": check_depth_diff,
    "ws_depthUpdate_partial5.json": check_depth_partial,
    "ws_forceOrder.json": check_force_order,
    "ws_subscribe_request.json": check_subscribe_request,
    "ws_subscribe_response.json": check_subscribe_response,
    "ws_ACCOUNT_UPDATE.json": check_account_update,
    "ws_dapi_ACCOUNT_UPDATE.json": check_dapi_account_update,
    "ws_ORDER_TRADE_UPDATE.json": check_order_trade_update,
    "ws_dapi_ORDER_TRADE_UPDATE.json": check_dapi_order_trade_update,
    "ws_TRADE_LITE.json": check_trade_lite,
    "ws_ALGO_UPDATE.json": check_algo_update,
    "ws_MARGIN_CALL.json": check_margin_call,
    "ws_ACCOUNT_CONFIG_UPDATE.json": check_account_config_leverage,
    "ws_ACCOUNT_CONFIG_UPDATE_multiassets.json": check_account_config_multiassets,
    "ws_listenKeyExpired.json": check_listen_key_expired,
    "rest_fapi_v1_order_new.json": check_order_new,
    "rest_fapi_v1_order_cancel.json": check_order_cancel,
    "rest_fapi_v1_openOrders.json": check_open_orders,
    "rest_fapi_v1_algoOrder_new.json": check_algo_order,
    "rest_fapi_v2_positionRisk.json": check_position_risk,
    "rest_fapi_v2_positionRisk_hedge.json": check_position_risk_hedge,
    "rest_dapi_v1_positionRisk.json": check_dapi_position_risk,
    "rest_fapi_v2_balance.json": check_balance,
    "rest_fapi_v1_userTrades.json": check_user_trades,
    "rest_fapi_v1_klines.json": check_klines,
    "rest_fapi_v1_depth.json": check_depth,
    "rest_fapi_v1_premiumIndex.json": check_premium_index,
    "rest_fapi_v1_fundingRate.json": check_funding_rate,
    "rest_fapi_v1_fundingInfo.json": check_funding_info,
    "rest_fapi_v1_listenKey.json": check_listen_key,
    "rest_fapi_v1_leverage.json": check_leverage,
    "rest_*_commissionRate.json": check_commission,
    "rest_*_exchangeInfo*.json": check_exchange_info,
    "rest_*_leverageBracket*.json": check_leverage_bracket,
    "rest_error_*.json": check_error,
}


def _files() -> list[str]:
    return sorted(p.name for p in PAYLOADS.iterdir() if p.is_file())


def _claims(name: str) -> list[str]:
    return [pattern for pattern in CLAIMS if fnmatch.fnmatchcase(name, pattern)]


@pytest.mark.parametrize("name", _files())
def test_payload_is_claimed_and_parses(name: str) -> None:
    claims = _claims(name)
    assert claims, (
        f"{name} is claimed by no parser: add a row to CLAIMS in {Path(__file__).name} that "
        "parses it and checks its values"
    )
    assert len(claims) == 1, f"{name} is claimed twice: {claims}"
    CLAIMS[claims[0]](PAYLOADS / name)


def test_every_claim_matches_a_payload() -> None:
    files = _files()
    stale = [p for p in CLAIMS if not any(fnmatch.fnmatchcase(f, p) for f in files)]
    assert not stale, f"CLAIMS rows match no payload (renamed or removed?): {stale}"


# -- robustness: any damage to a real payload is a PayloadError, never a crash -------------------


def _both_dispatchers(obj: Any) -> None:
    parse_market_message(obj)
    parse_user_message(obj)


def _market_of(name: str) -> Market:
    return Market.COINM if "_dapi_" in name else Market.USDM


PARSERS: dict[str, Callable[[str, Any], object]] = {
    "ws_*.json": lambda name, obj: _both_dispatchers(obj),
    "rest_*_order_*.json": lambda name, obj: orders.parse_order(obj),
    "rest_*_openOrders.json": lambda name, obj: orders.parse_orders(obj),
    "rest_*_algoOrder_*.json": lambda name, obj: orders.parse_algo_order(obj),
    "rest_*_positionRisk*.json": lambda name, obj: account_state.parse_position_risk(obj),
    "rest_*_balance.json": lambda name, obj: account_state.parse_balances(obj),
    "rest_*_userTrades.json": lambda name, obj: account_state.parse_user_trades(obj),
    "rest_*_klines.json": lambda name, obj: market_data.parse_klines(obj, "BTCUSDT", "1m"),
    "rest_*_depth.json": lambda name, obj: market_data.parse_depth(obj, "BTCUSDT"),
    "rest_*_premiumIndex.json": lambda name, obj: market_data.parse_premium_indexes(obj),
    "rest_*_fundingRate.json": lambda name, obj: market_data.parse_funding_rates(obj),
    "rest_*_fundingInfo.json": lambda name, obj: market_data.parse_funding_info(obj),
    "rest_*_listenKey.json": lambda name, obj: account_state.parse_listen_key(obj),
    "rest_*_leverage.json": lambda name, obj: account_state.parse_leverage(obj),
    "rest_*_commissionRate.json": lambda name, obj: account_state.parse_commission_rate(obj),
    "rest_*_exchangeInfo*.json": lambda name, obj: (
        rest.parse_exchange_info(obj, _market_of(name)),
        rest.parse_rate_limits(obj),
    ),
    "rest_*_leverageBracket*.json": lambda name, obj: rest.parse_leverage_brackets(obj, _market_of(name)),
    "rest_error_*.json": lambda name, obj: BinanceError.from_payload(obj),
}
DAMAGE: tuple[Any, ...] = (None, True, 7, 1.5, "", "x", "NaN", [], {}, [["1"]])
_DELETE = object()


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for key, child in children:
        out.append((*path, key))
        out.extend(_paths(child, (*path, key)))
    return out


def _damaged(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


@pytest.mark.parametrize("name", [n for n in _files() if n.endswith(".json")])
def test_damaged_payload_raises_payload_error_or_parses(name: str) -> None:
    (pattern,) = [p for p in PARSERS if fnmatch.fnmatchcase(name, p)]
    parse = PARSERS[pattern]
    obj = _json(PAYLOADS / name)
    parse(name, obj)  # intact: parses
    wholes: tuple[Any, ...] = (None, 1, "x", [], {}, [None])
    for whole in wholes:
        with contextlib.suppress(PayloadError):
            parse(name, whole)
    for path in _paths(obj):
        damages = (_DELETE, *DAMAGE) if isinstance(path[-1], str) else DAMAGE
        for value in damages:
            try:
                parse(name, _damaged(obj, path, value))
            except PayloadError:
                pass
            except Exception as exc:  # pragma: no cover - the failure message
                shown = "deleted" if value is _DELETE else repr(value)
                pytest.fail(f"{name}: {path} {shown} raised {type(exc).__name__}: {exc}")


def test_an_unclaimed_payload_fails_the_walk() -> None:
    with pytest.raises(AssertionError, match="claimed by no parser"):
        test_payload_is_claimed_and_parses("ws_SOME_FUTURE_EVENT.json")
