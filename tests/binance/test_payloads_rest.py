"""REST parsing: error bodies as typed exceptions, klines, batches, odd fields, bad input."""

from __future__ import annotations

import pickle
from decimal import Decimal
from typing import Any

import pytest

from rulebot.binance import codes as e
from rulebot.binance.codes import BinanceError, PayloadError
from rulebot.binance.payloads import account_state, market_data, orders, rest
from rulebot.core.enums import Market, OrderStatus

D = Decimal

# FACTS.md §8's codes that callers branch on, and the class each must raise as.
ERROR_CLASSES = [
    (-1003, e.TooManyRequests, e.RateLimited),
    (-1015, e.TooManyOrders, e.RateLimited),
    (-1008, e.ServerBusy, e.ServerBusy),
    (-1006, e.ExecutionUnknown, e.ExecutionUnknown),
    (-1007, e.ExecutionUnknown, e.ExecutionUnknown),
    (-1021, e.TimestampOutsideRecvWindow, e.TimestampOutsideRecvWindow),
    (-5028, e.TimestampOutsideRecvWindow, e.TimestampOutsideRecvWindow),
    (-1022, e.AuthError, e.AuthError),
    (-2015, e.AuthError, e.AuthError),
    (-1102, e.InvalidRequest, e.InvalidRequest),
    (-1121, e.BadSymbol, e.InvalidRequest),
    (-1125, e.InvalidListenKey, e.InvalidListenKey),
    (-2011, e.UnknownOrder, e.UnknownOrder),
    (-2013, e.UnknownOrder, e.UnknownOrder),
    (-2010, e.OrderRejected, e.OrderRejected),
    (-2019, e.MarginInsufficient, e.OrderRejected),
    (-2021, e.WouldImmediatelyTrigger, e.OrderRejected),
    (-2022, e.ReduceOnlyRejected, e.OrderRejected),
    (-2023, e.UserInLiquidation, e.OrderRejected),
    (-2025, e.MaxOpenOrders, e.OrderRejected),
    (-2027, e.PositionLimitExceeded, e.OrderRejected),
    (-4003, e.FilterViolation, e.OrderRejected),
    (-4014, e.FilterViolation, e.OrderRejected),
    (-4164, e.MinNotional, e.FilterViolation),
    (-4131, e.BestPriceOutsideBand, e.FilterViolation),
    (-4116, e.DuplicateClientOrderId, e.OrderRejected),
    (-4120, e.UseAlgoService, e.OrderRejected),
    (-4400, e.TradingRuleViolated, e.OrderRejected),
    (-5021, e.FokRejected, e.OrderRejected),
    (-5022, e.PostOnlyRejected, e.OrderRejected),
    (-4028, e.InvalidLeverage, e.AccountSettingRejected),
    (-4047, e.AccountSettingRejected, e.AccountSettingRejected),
    (-4046, e.NoChangeNeeded, e.NoChangeNeeded),
    (-4059, e.NoChangeNeeded, e.NoChangeNeeded),
]


@pytest.mark.parametrize(("code", "cls", "family"), ERROR_CLASSES)
def test_error_body_raises_its_subclass(code: int, cls: type, family: type) -> None:
    body = {"code": code, "msg": "whatever Binance said"}
    with pytest.raises(family) as caught:
        rest.check_error(body, 400)
    err = caught.value
    assert type(err) is cls
    assert isinstance(err, BinanceError)
    assert (err.code, err.msg, err.http_status) == (code, "whatever Binance said", 400)
    assert str(code) in str(err) and "whatever Binance said" in str(err)


def test_unknown_code_is_a_plain_binance_error() -> None:
    err = BinanceError.from_payload({"code": -9999, "msg": "new in 2027"})
    assert type(err) is BinanceError
    assert (err.code, err.msg, err.http_status) == (-9999, "new in 2027", None)
    assert str(err) == "Binance -9999: new in 2027"


def test_hint_says_what_to_do() -> None:
    err = BinanceError.from_payload({"code": -1021, "msg": "Timestamp ... recvWindow."})
    assert "resync the clock" in str(err)


def test_success_bodies_pass_and_are_no_errors() -> None:
    ok = {"code": 200, "msg": "success"}
    assert rest.check_error(ok) is ok
    assert rest.check_error([1, 2]) == [1, 2]
    with pytest.raises(PayloadError, match="not an error code"):
        BinanceError.from_payload(ok)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"msg": "x"}, "code"), ({"code": "-1021", "msg": "x"}, "code"), ({"code": -1}, "msg"), ([], "")],
)
def test_malformed_error_body(body: Any, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        BinanceError.from_payload(body)
    assert caught.value.field == field


def test_every_code_is_registered_once() -> None:
    seen: dict[int, str] = {}

    def walk(cls: type[BinanceError]) -> None:
        for code in cls.codes:
            assert code not in seen, f"{code}: {seen.get(code)} and {cls.__name__}"
            seen[code] = cls.__name__
            assert e.error_class(code) is cls
        for sub in cls.__subclasses__():
            walk(sub)

    walk(BinanceError)
    assert len(seen) > 60


# -- orders --------------------------------------------------------------------------------------

ORDER = {
    "clientOrderId": "testOrder",
    "cumQty": "0",
    "cumQuote": "0",
    "executedQty": "0",
    "orderId": 22542179,
    "avgPrice": "0.00000",
    "origQty": "10",
    "price": "0",
    "reduceOnly": False,
    "side": "BUY",
    "positionSide": "SHORT",
    "status": "NEW",
    "stopPrice": "0",
    "closePosition": False,
    "symbol": "BTCUSDT",
    "timeInForce": "GTC",
    "type": "LIMIT",
    "origType": "LIMIT",
    "updateTime": 1566818724722,
    "workingType": "CONTRACT_PRICE",
    "priceProtect": False,
}


def test_batch_orders_mix_orders_and_errors() -> None:
    results = orders.parse_batch_orders([ORDER, {"code": -2022, "msg": "ReduceOnly Order is rejected."}])
    order, error = results
    assert isinstance(order, orders.OrderView) and order.status is OrderStatus.NEW
    assert isinstance(error, e.ReduceOnlyRejected)


def test_coinm_order_reports_cum_base() -> None:
    coinm = {k: v for k, v in ORDER.items() if k != "cumQuote"} | {
        "cumBase": "0.0011",
        "pair": "BTCUSD",
    }
    view = orders.parse_order(coinm)
    assert (view.cum_quote, view.cum_base) == (None, D("0.0011"))


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ({"orderId": "22542179"}, "orderId"),
        ({"status": "OPEN"}, "status"),
        ({"origQty": "ten"}, "origQty"),
        ({"stopPrice": 1}, "stopPrice"),
        ({"workingType": "LAST"}, "workingType"),
        ({"goodTillDate": "0"}, "goodTillDate"),
    ],
)
def test_malformed_order(mutation: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        orders.parse_order(ORDER | mutation)
    assert (caught.value.kind, caught.value.field) == ("order", field)


def test_open_orders_error_names_the_index() -> None:
    broken = {k: v for k, v in ORDER.items() if k != "side"}
    with pytest.raises(PayloadError) as caught:
        orders.parse_orders([ORDER, broken])
    assert caught.value.field == "[1].side"


# -- market data ---------------------------------------------------------------------------------

ROW = [
    1499040000000,
    "0.016",
    "0.8",
    "0.015",
    "0.0157",
    "148976.1",
    1499040059999,
    "2434.1",
    308,
    "1756.8",
    "28.4",
    "0",
]


def test_klines_drop_the_forming_candle_given_server_time() -> None:
    forming = [1499040060000, "1", "1", "1", "1", "0", 1499040119999, "0", 0, "0", "0", "0"]
    assert len(market_data.parse_klines([ROW, forming], "BTCUSDT", "1m")) == 2
    closed = market_data.parse_klines([ROW, forming], "BTCUSDT", "1m", server_time=1499040070000)
    assert [c.open_time for c in closed] == [1499040000000]
    assert closed[0].close == D("0.0157") and closed[0].trades == 308


@pytest.mark.parametrize(
    ("row", "field", "column"),
    [
        (ROW[:5], "[0]", "12 columns"),
        ([*ROW[:4], 0.0157, *ROW[5:]], "[0][4]", "close"),
        ([*ROW[:8], "308", *ROW[9:]], "[0][8]", "trades"),
        ("x", "[0]", "12 columns"),
    ],
)
def test_malformed_kline_rows_name_the_column(row: Any, field: str, column: str) -> None:
    with pytest.raises(PayloadError) as caught:
        market_data.parse_klines([row], "BTCUSDT", "1m")
    assert caught.value.field == field and column in caught.value.reason


def test_coinm_premium_index_of_a_delivery_contract() -> None:
    payload = [
        {
            "symbol": "BTCUSD_200925",
            "pair": "BTCUSD",
            "markPrice": "9297.0",
            "indexPrice": "9296.2",
            "estimatedSettlePrice": "9280.7",
            "lastFundingRate": "",
            "interestRate": "",
            "nextFundingTime": 0,
            "time": 1591263138000,
        }
    ]
    (info,) = market_data.parse_premium_indexes(payload)
    assert (info.mark.funding_rate, info.mark.next_funding_time, info.interest_rate) == (None,) * 3
    assert info.mark.mark_price == D("9297.0")


def test_depth_snapshot_levels() -> None:
    with pytest.raises(PayloadError) as caught:
        market_data.parse_depth({"lastUpdateId": 1, "bids": [["1", "2"], ["1"]], "asks": []}, "X")
    assert caught.value.field == "bids[1]"


# -- account ---------------------------------------------------------------------------------------


def test_coinm_balance_uses_withdraw_available() -> None:
    row = {
        "accountAlias": "SgsR",
        "asset": "BTC",
        "balance": "0.00250000",
        "withdrawAvailable": "0.00250000",
        "crossWalletBalance": "0.00241969",
        "crossUnPnl": "0.00000000",
        "availableBalance": "0.00241969",
        "updateTime": 1592468353979,
    }
    (b,) = account_state.parse_balances([row])
    assert (b.max_withdraw, b.margin_available) == (D("0.0025"), None)
    with pytest.raises(PayloadError, match="maxWithdrawAmount"):
        account_state.parse_balances([{k: v for k, v in row.items() if k != "withdrawAvailable"}])


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ({"leverage": 4}, "leverage"),
        ({"leverage": "x4"}, "leverage"),
        ({"isAutoAddMargin": "maybe"}, "isAutoAddMargin"),
        ({"marginType": "both"}, "marginType"),
    ],
)
def test_malformed_position_risk(mutation: dict[str, Any], field: str) -> None:
    row = {
        "symbol": "BTCUSDT",
        "positionAmt": "0.001",
        "entryPrice": "1",
        "markPrice": "1",
        "unRealizedProfit": "0",
        "liquidationPrice": "0",
        "leverage": "4",
        "marginType": "cross",
        "isolatedMargin": "0",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "updateTime": 0,
    }
    assert account_state.parse_position_risk([row])[0].leverage == 4
    with pytest.raises(PayloadError) as caught:
        account_state.parse_position_risk([row | mutation])
    assert caught.value.field == f"[0].{field}"


def test_delegated_parsers_raise_payload_errors() -> None:
    with pytest.raises(PayloadError):
        account_state.parse_commission_rate({"makerCommissionRate": 0.0002, "takerCommissionRate": "1"})
    with pytest.raises(PayloadError, match="PRICE_FILTER"):
        rest.parse_exchange_info({"symbols": [{"symbol": "X", "filters": []}]}, Market.USDM)
    with pytest.raises(PayloadError):
        rest.parse_leverage_brackets([{"symbol": "X", "brackets": [{"bracket": 1}]}], Market.USDM)
    with pytest.raises(PayloadError):
        account_state.parse_listen_key({"listenKey": ""})


def test_errors_survive_pickling() -> None:
    err = BinanceError.from_payload({"code": -2019, "msg": "Margin is insufficient."}, 400)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.code, back.msg, back.http_status) == (
        e.MarginInsufficient,
        -2019,
        "Margin is insufficient.",
        400,
    )
    bad = PayloadError("aggTrade", "p", "missing")
    assert str(pickle.loads(pickle.dumps(bad))) == str(bad)
