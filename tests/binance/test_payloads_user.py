"""User-stream parsing: fills and their de-dup key, COIN-M forms, odd fields, bad input."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest

from rulebot.binance.codes import PayloadError
from rulebot.binance.payloads.user import (
    ListenKeyExpired,
    MarginCalls,
    MultiAssetsModeChanged,
    TradeLite,
    fill_key,
    is_liquidation,
    parse_algo_update,
    parse_order_trade_update,
    parse_user_message,
)
from rulebot.core.account_events import AccountUpdate, LeverageChanged, OrderUpdate
from rulebot.core.enums import OrderStatus, OrderType, TimeInForce

D = Decimal

# A market BUY that filled 0.040 BTCUSDT at 64089.20: the ORDER_TRADE_UPDATE and TRADE_LITE
# Binance sends for the same fill (ids from payloads/ws_TRADE_LITE.json).
OTU_FILL = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1721895408100,
    "T": 1721895408214,
    "o": {
        "s": "BTCUSDT",
        "c": "z8hcUoOsqEdKMeKPSABslD",
        "S": "BUY",
        "o": "MARKET",
        "f": "GTC",
        "q": "0.040",
        "p": "0",
        "ap": "64089.20",
        "sp": "0",
        "x": "TRADE",
        "X": "FILLED",
        "i": 8886774,
        "l": "0.040",
        "z": "0.040",
        "L": "64089.20",
        "N": "USDT",
        "n": "1.28178400",
        "T": 1721895408214,
        "t": 109100866,
        "b": "0",
        "a": "0",
        "m": False,
        "R": False,
        "wt": "CONTRACT_PRICE",
        "ot": "MARKET",
        "ps": "BOTH",
        "cp": False,
        "rp": "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
        "er": "0",
    },
}
LITE = {
    "e": "TRADE_LITE",
    "E": 1721895408092,
    "T": 1721895408214,
    "s": "BTCUSDT",
    "q": "0.040",
    "p": "0",
    "m": False,
    "c": "z8hcUoOsqEdKMeKPSABslD",
    "S": "BUY",
    "L": "64089.20",
    "l": "0.040",
    "t": 109100866,
    "i": 8886774,
}
ALGO = {
    "e": "ALGO_UPDATE",
    "T": 1750515742297,
    "E": 1750515742303,
    "o": {
        "caid": "Q5xaq5EGKgXXa0fD7fs0Ip",
        "aid": 2148719,
        "at": "CONDITIONAL",
        "o": "STOP_MARKET",
        "s": "BNBUSDT",
        "S": "SELL",
        "ps": "BOTH",
        "f": "GTC",
        "q": "0.01",
        "X": "TRIGGERED",
        "ai": "",
        "ap": "0.00000",
        "aq": "0.00000",
        "act": "0",
        "tp": "750",
        "p": "0",
        "V": "EXPIRE_MAKER",
        "wt": "MARK_PRICE",
        "pm": "NONE",
        "cp": False,
        "pP": False,
        "R": True,
        "tt": 0,
        "gtd": 0,
        "rm": "",
    },
}
ACCOUNT = {
    "e": "ACCOUNT_UPDATE",
    "E": 1564745798939,
    "T": 1564745798938,
    "a": {
        "m": "FUNDING_FEE",
        "B": [{"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "-0.5"}],
        "P": [
            {
                "s": "BTCUSDT",
                "pa": "20",
                "ep": "6563.66500",
                "bep": "6563.7",
                "cr": "0",
                "up": "2850.21200",
                "mt": "cross",
                "iw": "0.00000000",
                "ps": "LONG",
            }
        ],
    },
}


def with_(d: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
    """A deep copy of `d` with the dotted `path` (list indexes as digits) set, or deleted."""
    out = copy.deepcopy(d)
    *parents, last = path.split(".")
    target: Any = out
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return out


# -- fills: ORDER_TRADE_UPDATE vs TRADE_LITE ------------------------------------------------------


def test_trade_lite_and_order_update_of_one_fill_share_the_key() -> None:
    update = parse_user_message(orjson.dumps(OTU_FILL))
    lite = parse_user_message(orjson.dumps(LITE))
    assert isinstance(update, OrderUpdate) and isinstance(lite, TradeLite)
    assert fill_key(update) == fill_key(lite) == lite.fill_key == ("BTCUSDT", 8886774, 109100866)
    # Both describe the same fill; only the order update carries what is booked.
    assert (update.last_filled_qty, update.last_filled_price) == (
        lite.last_filled_qty,
        lite.last_filled_price,
    )
    assert (update.commission, update.commission_asset) == (D("1.28178400"), "USDT")


def test_de_dup_by_key_books_each_fill_once_in_either_order() -> None:
    events = [parse_user_message(orjson.dumps(f)) for f in (LITE, OTU_FILL, OTU_FILL)]
    for order in (events, events[::-1]):
        seen: set[tuple[str, int, int]] = set()
        booked = []
        for event in order:
            assert isinstance(event, OrderUpdate | TradeLite)
            key = fill_key(event)
            if isinstance(event, OrderUpdate) and key is not None and key not in seen:
                seen.add(key)
                booked.append(event)
        assert len(booked) == 1


def test_self_trade_gives_two_keys() -> None:
    # Both sides of a self-trade are our orders and share Binance's trade id.
    other = with_(with_(OTU_FILL, "o.i", 8886775), "o.S", "SELL")
    assert fill_key(parse_order_trade_update(OTU_FILL)) != fill_key(parse_order_trade_update(other))


def test_updates_without_a_fill_have_no_key() -> None:
    new = with_(with_(with_(OTU_FILL, "o.x", "NEW"), "o.l", "0"), "o.t", 0)
    assert fill_key(parse_order_trade_update(new)) is None


# -- ORDER_TRADE_UPDATE's odd fields --------------------------------------------------------------


def test_missing_commission_fields_mean_no_commission() -> None:
    update = parse_order_trade_update(with_(with_(OTU_FILL, "o.N"), "o.n"))
    assert (update.commission, update.commission_asset) == (D(0), "")


def test_liquidation_order_type() -> None:
    liq = with_(with_(with_(OTU_FILL, "o.o", "LIQUIDATION"), "o.x", "CALCULATED"), "o.f", "IOC")
    liq = with_(liq, "o.c", "autoclose-1721895408214")
    update = parse_order_trade_update(liq)
    assert update.order_type is OrderType.LIQUIDATION  # Binance's own type, as the simulator reports it
    assert update.execution_type == "CALCULATED"
    assert is_liquidation(update)
    assert not is_liquidation(parse_order_trade_update(OTU_FILL))
    adl = parse_order_trade_update(with_(OTU_FILL, "o.c", "adl_autoclose"))
    assert is_liquidation(adl)


def test_gte_gtc_time_in_force_is_none() -> None:
    assert parse_order_trade_update(with_(OTU_FILL, "o.f", "GTE_GTC")).time_in_force is None
    assert parse_order_trade_update(OTU_FILL).time_in_force is TimeInForce.GTC


def test_expiry_reason_becomes_the_reject_code() -> None:
    expired = with_(with_(with_(OTU_FILL, "o.X", "EXPIRED"), "o.x", "EXPIRED"), "o.er", "2")
    update = parse_order_trade_update(expired)
    assert update.status is OrderStatus.EXPIRED
    assert update.reject_code == 2
    assert update.reject_reason is not None and "IOC" in update.reject_reason
    unknown = parse_order_trade_update(with_(expired, "o.er", "42"))
    assert (unknown.reject_code, unknown.reject_reason) == (42, "expiry reason 42")
    assert parse_order_trade_update(with_(OTU_FILL, "o.er")).reject_code is None


def test_stop_price_is_the_trigger_except_for_trailing_stops() -> None:
    stop = with_(with_(OTU_FILL, "o.o", "STOP_MARKET"), "o.sp", "7103.04")
    assert parse_order_trade_update(stop).trigger_price == D("7103.04")
    trailing = with_(stop, "o.o", "TRAILING_STOP_MARKET")
    assert parse_order_trade_update(trailing).trigger_price is None
    assert parse_order_trade_update(OTU_FILL).trigger_price is None  # "0": no trigger


def test_coinm_order_update_keeps_its_margin_asset_out_and_parses() -> None:
    coinm = with_(with_(with_(OTU_FILL, "o.s", "BTCUSD_PERP"), "o.N", "BTC"), "o.q", "2")
    coinm["i"] = "SfsR"
    coinm["o"]["ma"] = "BTC"
    update = parse_user_message(coinm)
    assert isinstance(update, OrderUpdate)
    assert (update.symbol, update.commission_asset, update.quantity) == ("BTCUSD_PERP", "BTC", D(2))


# -- the other events ----------------------------------------------------------------------------


def test_algo_update_triggered_with_an_order_id() -> None:
    triggered = parse_algo_update(with_(ALGO, "o.ai", "8886774"))
    assert (triggered.order_id, triggered.status, triggered.price) == (8886774, "TRIGGERED", None)
    assert (triggered.reason, triggered.reduce_only, triggered.trigger_price) == (
        None,
        True,
        D(750),
    )
    assert parse_algo_update(with_(ALGO, "o.ai", 8886774)).order_id == 8886774
    assert parse_algo_update(ALGO).order_id is None


def test_account_update_funding_fee_and_cross_spelling() -> None:
    update = parse_user_message(ACCOUNT)
    assert isinstance(update, AccountUpdate)
    assert update.reason == "FUNDING_FEE"
    assert update.positions[0].margin_type == "CROSSED"
    # Cross funding: balances only, no P at all.
    only_b = parse_user_message(with_(ACCOUNT, "a.P"))
    assert isinstance(only_b, AccountUpdate) and only_b.positions == ()


def test_margin_call_without_cross_wallet() -> None:
    raw = {
        "e": "MARGIN_CALL",
        "E": 1,
        "p": [
            {
                "s": "ETHUSDT",
                "ps": "LONG",
                "pa": "1.327",
                "mt": "ISOLATED",
                "iw": "1",
                "mp": "187.1",
                "up": "-1.1",
                "mm": "1.6",
            }
        ],
    }
    calls = parse_user_message(raw)
    assert isinstance(calls, MarginCalls)
    assert calls.cross_wallet_balance is None and calls.calls[0].maintenance_margin == D("1.6")


def test_account_config_update_variants() -> None:
    base = {"e": "ACCOUNT_CONFIG_UPDATE", "E": 2, "T": 1}
    assert parse_user_message({**base, "ac": {"s": "BTCUSDT", "l": 3}}) == LeverageChanged("BTCUSDT", 3, 1)
    assert parse_user_message({**base, "ai": {"j": False}}) == MultiAssetsModeChanged(False, 1)
    with pytest.raises(PayloadError, match="exactly one"):
        parse_user_message(base)


def test_listen_key_expired_with_string_time_of_older_docs() -> None:
    raw = b'{"e":"listenKeyExpired","E":"1576653824250","listenKey":"abc"}'
    assert parse_user_message(raw) == ListenKeyExpired("abc", 1576653824250)


def test_unknown_and_deprecated_events_return_none() -> None:
    assert parse_user_message({"e": "CONDITIONAL_ORDER_TRIGGER_REJECT", "E": 1}) is None
    assert parse_user_message({"e": "STRATEGY_UPDATE", "E": 1}) is None
    assert parse_user_message({"no": "type"}) is None


def test_multi_key_wrapper_is_unwrapped() -> None:
    wrapped = {"stream": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1", "data": LITE}
    assert parse_user_message(orjson.dumps(wrapped)) == parse_user_message(LITE)
    with pytest.raises(PayloadError) as caught:
        parse_user_message({"stream": "k", "data": with_(LITE, "t")})
    assert caught.value.field == "data.t"


# -- malformed input ------------------------------------------------------------------------------

MALFORMED = [
    (with_(OTU_FILL, "o.i"), "o.i", "missing"),
    (with_(OTU_FILL, "o.i", "8886774"), "o.i", "integer"),
    (with_(OTU_FILL, "o.n", 0.5), "o.n", "decimal string"),
    (with_(OTU_FILL, "o.n", "Infinity"), "o.n", "decimal string"),
    (with_(OTU_FILL, "o.N", None), "o.N", "string"),
    (with_(OTU_FILL, "o.er", 2), "o.er", "digits"),
    (with_(OTU_FILL, "o.ap", "NaN"), "o.ap", "decimal string"),
    (with_(OTU_FILL, "o.X", "GONE"), "o.X", "one of NEW"),
    (with_(OTU_FILL, "o.o", "ICEBERG"), "o.o", "one of LIMIT"),
    (with_(OTU_FILL, "o.ps", "BOTHS"), "o.ps", "one of BOTH"),
    (with_(OTU_FILL, "o"), "o", "missing"),
    (with_(OTU_FILL, "o", [1]), "o", "object"),
    (with_(OTU_FILL, "T", 1.5), "T", "integer"),
    (with_(LITE, "l", "abc"), "l", "decimal string"),
    (with_(LITE, "S", "buy"), "S", "one of BUY, SELL"),
    (with_(ACCOUNT, "a.P.0.pa"), "a.P[0].pa", "missing"),
    (with_(ACCOUNT, "a.P.0.mt", "portfolio"), "a.P[0].mt", "one of"),
    (with_(ACCOUNT, "a.B.0.wb", 1), "a.B[0].wb", "decimal string"),
    (with_(ACCOUNT, "a.B", {}), "a.B", "array"),
    (with_(ALGO, "o.ai", "x1"), "o.ai", "order id"),
    (with_(ALGO, "o.rm", 5), "o.rm", "string"),
    (with_(ALGO, "o.tp", "7,5"), "o.tp", "decimal"),
    ({"e": "MARGIN_CALL", "E": 1, "p": [{"s": "X"}]}, "p[0].ps", "missing"),
    ({"e": "MARGIN_CALL", "E": 1, "cw": 3, "p": []}, "cw", "decimal"),
    ({"e": "ACCOUNT_CONFIG_UPDATE", "E": 1, "T": 1, "ac": {"s": "X", "l": "5"}}, "ac.l", "integer"),
    ({"e": "ACCOUNT_CONFIG_UPDATE", "E": 1, "T": 1, "ai": {"j": 1}}, "ai.j", "boolean"),
    ({"e": "listenKeyExpired", "E": 1}, "listenKey", "string"),
    ({"e": "listenKeyExpired", "listenKey": "k"}, "E", "integer"),
]


@pytest.mark.parametrize(("frame", "field", "reason"), MALFORMED)
def test_malformed_event_names_the_field(frame: Any, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_user_message(orjson.dumps(frame))
    assert (caught.value.field, caught.value.kind) == (field, frame["e"])
    assert reason in caught.value.reason


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", "\u00e9"])
def test_not_json_or_not_an_object(raw: bytes | str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_user_message(raw)
    assert caught.value.kind == "user message"
