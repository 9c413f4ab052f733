"""Market-stream parsing: routing, the combined wrapper, klines, COIN-M forms, malformed input."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest

from rulebot.binance.codes import PayloadError
from rulebot.binance.payloads.market import (
    ControlReply,
    DepthUpdate,
    KlineUpdate,
    parse_agg_trade,
    parse_kline,
    parse_mark_price,
    parse_market_batch,
    parse_market_message,
)
from rulebot.core.events import BookTop, CandleClosed, IndexPrice, MarkPrice, Trade

D = Decimal

AGG = {
    "e": "aggTrade",
    "E": 123456789,
    "s": "BTCUSDT",
    "a": 5933014,
    "p": "0.001",
    "q": "100",
    "nq": "100",
    "f": 100,
    "l": 105,
    "T": 123456785,
    "m": True,
}
KLINE = {
    "e": "kline",
    "E": 1638747720000,
    "s": "BTCUSDT",
    "k": {
        "t": 1638747660000,
        "T": 1638747719999,
        "s": "BTCUSDT",
        "i": "1m",
        "f": 100,
        "L": 200,
        "o": "0.0010",
        "c": "0.0020",
        "h": "0.0025",
        "l": "0.0005",
        "v": "1000",
        "n": 100,
        "x": True,
        "q": "1.0000",
        "V": "500",
        "Q": "0.500",
        "B": "123456",
    },
}
BOOK = {
    "e": "bookTicker",
    "u": 400900217,
    "E": 1568014460893,
    "T": 1568014460891,
    "s": "BNBUSDT",
    "b": "25.35190000",
    "B": "31.21000000",
    "a": "25.36520000",
    "A": "40.66000000",
}
DEPTH = {
    "e": "depthUpdate",
    "E": 123456789,
    "T": 123456788,
    "s": "BTCUSDT",
    "U": 157,
    "u": 160,
    "pu": 149,
    "b": [["0.0024", "10"]],
    "a": [["0.0026", "100"], ["0.0027", "0"]],
}
FORCE = {
    "e": "forceOrder",
    "E": 1568014460893,
    "o": {
        "s": "BTCUSDT",
        "S": "SELL",
        "o": "LIMIT",
        "f": "IOC",
        "q": "0.014",
        "p": "9910",
        "ap": "9910",
        "X": "FILLED",
        "l": "0.014",
        "z": "0.014",
        "T": 1568014460893,
    },
}
MARK = {
    "e": "markPriceUpdate",
    "E": 1562305380000,
    "s": "BTCUSDT",
    "p": "11794.15000000",
    "ap": "11794.15000000",
    "i": "11784.62659091",
    "P": "11784.25641265",
    "r": "0.00038167",
    "T": 1562306400000,
}


def with_(d: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
    """A deep copy of `d` with the dotted `path` set to `value`, or deleted when `...`."""
    out = copy.deepcopy(d)
    *parents, last = path.split(".")
    target = out
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return out


# -- routing ------------------------------------------------------------------------------------


def test_bytes_str_and_dict_give_the_same_event() -> None:
    raw = orjson.dumps(AGG)
    event = parse_market_message(raw)
    assert event == parse_market_message(raw.decode()) == parse_market_message(AGG)
    assert event == Trade("BTCUSDT", D("0.001"), D("100"), 123456785, True, 5933014, 100, 105)


def test_combined_wrapper_is_unwrapped() -> None:
    wrapped = {"stream": "btcusdt@aggTrade", "data": AGG}
    assert parse_market_message(orjson.dumps(wrapped)) == parse_agg_trade(AGG)


def test_book_ticker_without_e_is_routed_by_stream_name() -> None:
    bare = with_(BOOK, "e")
    expected = BookTop(
        "BNBUSDT",
        D("25.35190000"),
        D("31.21000000"),
        D("25.36520000"),
        D("40.66000000"),
        1568014460893,
        400900217,
    )
    assert parse_market_message({"stream": "bnbusdt@bookTicker", "data": bare}) == expected
    assert parse_market_message({"stream": "!bookTicker", "data": bare}) == expected
    assert parse_market_message(bare) == expected  # raw: recognised by its fields


def test_unknown_event_types_and_shapes_return_none() -> None:
    assert parse_market_message({"e": "24hrTicker", "E": 1, "s": "BTCUSDT"}) is None
    assert parse_market_message({"e": "markPriceKline", "E": 1}) is None
    assert parse_market_message({"stream": "btcusdt@ticker", "data": {"e": "24hrTicker"}}) is None
    assert parse_market_message({"something": "else"}) is None
    assert parse_market_message({"e": ["not", "a", "name"]}) is None


def test_control_replies() -> None:
    assert parse_market_message(b'{"result":null,"id":1}') == ControlReply(1, None)
    listed = parse_market_message(b'{"result":["btcusdt@aggTrade"],"id":3}')
    assert listed == ControlReply(3, ["btcusdt@aggTrade"])
    refused = parse_market_message(b'{"error":{"code":2,"msg":"Invalid request"},"id":4}')
    assert refused == ControlReply(4, None, 2, "Invalid request")


# -- klines -------------------------------------------------------------------------------------


def test_closed_kline_is_a_candle_closed() -> None:
    assert parse_market_message(KLINE) == CandleClosed(
        "BTCUSDT",
        "1m",
        1638747660000,
        1638747719999,
        D("0.0010"),
        D("0.0025"),
        D("0.0005"),
        D("0.0020"),
        D("1000"),
        D("1.0000"),
        100,
        D("500"),
    )
    # The same with open_klines: a closed kline is still the engine's event.
    assert parse_market_message(KLINE, open_klines=True) == parse_market_message(KLINE)


def test_open_kline_is_none_unless_asked_for() -> None:
    forming = with_(KLINE, "k.x", False)
    assert parse_market_message(forming) is None
    update = parse_market_message(forming, open_klines=True)
    assert isinstance(update, KlineUpdate) and not update.is_closed
    assert update.time == 1638747720000  # event time, not close time
    assert update.closed() == parse_kline(KLINE).closed()


def test_continuous_kline_closed_is_named_by_pair_and_contract_type() -> None:
    frame = {"e": "continuous_kline", "E": 1, "ps": "BTCUSD", "ct": "CURRENT_QUARTER", "k": with_(KLINE, "k.s")["k"]}
    candle = parse_market_message(frame)
    assert isinstance(candle, CandleClosed)
    assert candle.symbol == "BTCUSD_CURRENT_QUARTER"


# -- other streams ------------------------------------------------------------------------------


def test_depth_levels_keep_order_and_zero_quantities() -> None:
    u = parse_market_message(DEPTH)
    assert isinstance(u, DepthUpdate)
    assert u.asks == ((D("0.0026"), D("100")), (D("0.0027"), D("0")))
    empty = parse_market_message(with_(with_(DEPTH, "b", []), "a", []))
    assert isinstance(empty, DepthUpdate) and empty.bids == empty.asks == ()


def test_coinm_delivery_mark_price_has_no_funding() -> None:
    # COIN-M delivery contracts: "r": "" and "T": 0 (no funding).
    m = parse_mark_price(with_(with_(MARK, "r", ""), "T", 0))
    assert m == MarkPrice("BTCUSDT", D("11794.15000000"), 1562305380000, D("11784.62659091"))


def test_coinm_index_price() -> None:
    frame = {"e": "indexPriceUpdate", "E": 1591261236000, "i": "BTCUSD", "p": "9636.57860000"}
    assert parse_market_message(frame) == IndexPrice("BTCUSD", D("9636.57860000"), 1591261236000)


def test_all_market_arrays_go_through_the_batch_parser() -> None:
    other = with_(MARK, "s", "ETHUSDT")
    raw = orjson.dumps([MARK, other, {"e": "unknown"}])
    events = parse_market_batch(raw)
    assert [e.symbol for e in events if isinstance(e, MarkPrice)] == ["BTCUSDT", "ETHUSDT"]
    assert len(events) == 2
    assert parse_market_batch({"stream": "!markPrice@arr", "data": [MARK]}) == events[:1]
    assert parse_market_batch(AGG) == (parse_agg_trade(AGG),)
    with pytest.raises(PayloadError, match="parse_market_batch"):
        parse_market_message(raw)
    with pytest.raises(PayloadError) as caught:
        parse_market_batch([MARK, with_(MARK, "p")])
    assert caught.value.field == "[1].p"


# -- malformed input ----------------------------------------------------------------------------

MALFORMED = [
    # (frame, field, words in the reason)
    (with_(AGG, "p"), "p", "missing"),
    (with_(AGG, "p", 0.001), "p", "decimal string"),
    (with_(AGG, "p", "1,5"), "p", "decimal string"),
    (with_(AGG, "p", "NaN"), "p", "decimal string"),
    (with_(AGG, "q", None), "q", "null"),
    (with_(AGG, "T", "123456785"), "T", "integer"),
    (with_(AGG, "a", True), "a", "integer"),
    (with_(AGG, "m", "true"), "m", "boolean"),
    (with_(AGG, "s", 5), "s", "string"),
    (with_(BOOK, "u"), "u", "missing"),
    (with_(KLINE, "k.x"), "k.x", "missing"),
    (with_(KLINE, "k.c", 2), "k.c", "decimal string"),
    (with_(KLINE, "k", []), "k", "object"),
    (with_(DEPTH, "b", [["0.1"]]), "b[0]", "[price, qty]"),
    (with_(DEPTH, "a", [["0.1", "1"], ["x", "1"]]), "a[1]", "decimal"),
    (with_(DEPTH, "a", [["0.1", 1]]), "a[0]", "decimal"),
    (with_(DEPTH, "b", "none"), "b", "array"),
    (with_(DEPTH, "pu"), "pu", "missing"),
    (with_(FORCE, "o.S", "HOLD"), "o.S", "one of BUY, SELL"),
    (with_(FORCE, "o.X", "DONE"), "o.X", "one of"),
    (with_(FORCE, "o"), "o", "missing"),
    (with_(MARK, "r", 0.0001), "r", "decimal"),
    ({"stream": "btcusdt@aggTrade", "data": with_(AGG, "l")}, "data.l", "missing"),
    ({"stream": "btcusdt@aggTrade", "data": "oops"}, "data", "object"),
    ({"error": {"code": "2"}, "id": 1}, "error.code", "integer"),
]


@pytest.mark.parametrize(("frame", "field", "reason"), MALFORMED)
def test_malformed_frame_names_the_field(frame: Any, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_market_message(orjson.dumps(frame))
    err = caught.value
    assert err.field == field
    assert reason in err.reason
    assert field in str(err)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe", "[1, 2", b'"just a string"', b"42"])
def test_not_json_or_not_an_object(raw: bytes | str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_market_message(raw)
    assert caught.value.kind == "market message" and caught.value.field == ""


def test_payload_error_is_a_value_error_with_kind_field_reason() -> None:
    with pytest.raises(ValueError, match=r"aggTrade payload, field 'p': missing"):
        parse_agg_trade(with_(AGG, "p"))
