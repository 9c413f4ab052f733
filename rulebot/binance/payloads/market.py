"""Binance Futures market-stream messages (FACTS.md §9) parsed into core events.

One parser per event type (klines in `market_klines.py`), and `parse_market_message`, which
routes a raw frame (bytes, str or an already decoded object; raw or inside the combined-stream
wrapper) to the right one. These run once per message on the hot path: fields are read straight
from orjson's dict, checked with one type comparison, and money becomes `Decimal` from the JSON
strings directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.common import (
    BOOL,
    DEC,
    DEC_OR_EMPTY,
    INT,
    LIST,
    OBJ,
    ORDER_STATUSES,
    SIDES,
    STR,
    PayloadError,
    Shape,
    json_name,
    levels,
    loads,
    one_of,
)
from rulebot.binance.payloads.market_klines import (
    KlineUpdate,
    continuous_symbol,
    parse_continuous_kline,
    parse_continuous_kline_closed,
    parse_kline,
    parse_kline_closed,
)
from rulebot.core.enums import OrderStatus, Side
from rulebot.core.events import BookTop, CandleClosed, IndexPrice, MarkPrice, Trade

__all__ = [
    "ControlReply",
    "DepthUpdate",
    "KlineUpdate",
    "Liquidation",
    "MarketMessage",
    "continuous_symbol",
    "parse_agg_trade",
    "parse_book_ticker",
    "parse_continuous_kline",
    "parse_continuous_kline_closed",
    "parse_depth_update",
    "parse_force_order",
    "parse_index_price",
    "parse_kline",
    "parse_kline_closed",
    "parse_mark_price",
    "parse_market_batch",
    "parse_market_message",
    "parse_trade",
]

D = Decimal
Raw = bytes | bytearray | memoryview | str | Mapping[str, Any]


# -- values this package adds to the core events -----------------------------------------------


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """One `depthUpdate`: a diff (`<symbol>@depth`) or a top-N snapshot (`@depth5/10/20`).

    Both streams send the same shape; only the subscription tells them apart. Quantities are
    absolute (0 removes the level). Chain diffs with `prev_final_update_id` (`pu`) == the
    previous event's `final_update_id` (`u`); FACTS.md §9.1 gives the book algorithm.
    """

    symbol: str
    first_update_id: int  # U
    final_update_id: int  # u
    prev_final_update_id: int  # pu
    bids: tuple[tuple[Decimal, Decimal], ...]  # (price, qty), best first
    asks: tuple[tuple[Decimal, Decimal], ...]
    time: int  # E, event time
    transaction_time: int  # T


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A liquidation order of some account on the market (`forceOrder`), not ours.

    Binance sends at most the largest liquidation per symbol per second, so this samples
    liquidations rather than listing them. `order_type`/`time_in_force` are kept as Binance's
    strings (LIMIT/IOC in practice): they describe someone else's order and drive nothing.
    """

    symbol: str
    side: Side
    order_type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    average_price: Decimal
    status: OrderStatus
    last_filled_qty: Decimal
    filled_qty: Decimal
    time: int  # T, trade time


@dataclass(frozen=True, slots=True)
class ControlReply:
    """The answer to a SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS/..._PROPERTY request.

    `result` is null for (un)subscribe, the stream list or property value otherwise; a refused
    request has `error_code`/`error_msg` instead. `id` echoes the request's id.
    """

    id: int | str | None
    result: object = None
    error_code: int | None = None
    error_msg: str | None = None


MarketMessage = (
    Trade | BookTop | MarkPrice | IndexPrice | CandleClosed | KlineUpdate | DepthUpdate | Liquidation | ControlReply
)


# -- one parser per event type ------------------------------------------------------------------
# Each takes the decoded event object (the `data` of a combined frame) and raises PayloadError.

_AGG_TRADE = Shape("aggTrade", s=STR, p=DEC, q=DEC, a=INT, f=INT, l=INT, T=INT, m=BOOL)


def parse_agg_trade(d: Mapping[str, Any]) -> Trade:
    """`aggTrade` → `Trade` (`trade_id` = aggregate id, `time` = trade time `T`).

    `q` counts all trades including RPI ones; `nq` (without RPI) is not kept.
    """
    s, p, q, a, f, last, t, m = _AGG_TRADE.values(d)
    try:
        price, qty = D(p), D(q)
        if price.is_finite() and qty.is_finite():
            return Trade(s, price, qty, t, m, a, f, last)
    except ArithmeticError:
        pass
    raise _AGG_TRADE.error(d)


_TRADE = Shape("trade", s=STR, t=INT, p=DEC, q=DEC, T=INT, m=BOOL)


def parse_trade(d: Mapping[str, Any]) -> Trade:
    """`trade` (raw trades; not in the 2026 futures docs list, FACTS.md §9) → `Trade`.

    `X` (MARKET, LIQUIDATION, INSURANCE_FUND, ADL) is not kept: every kind printed a price.
    """
    s, t_id, p, q, t, m = _TRADE.values(d)
    try:
        price, qty = D(p), D(q)
        if price.is_finite() and qty.is_finite():
            return Trade(s, price, qty, t, m, t_id)
    except ArithmeticError:
        pass
    raise _TRADE.error(d)


_BOOK_TICKER = Shape("bookTicker", s=STR, b=DEC, B=DEC, a=DEC, A=DEC, E=INT, u=INT)


def parse_book_ticker(d: Mapping[str, Any]) -> BookTop:
    """`bookTicker` → `BookTop` (`time` = event time `E`, like the archive's bookTicker files)."""
    s, b, bq, a, aq, e, u = _BOOK_TICKER.values(d)
    try:
        bid, bid_qty, ask, ask_qty = D(b), D(bq), D(a), D(aq)
        if bid.is_finite() and bid_qty.is_finite() and ask.is_finite() and ask_qty.is_finite():
            return BookTop(s, bid, bid_qty, ask, ask_qty, e, u)
    except ArithmeticError:
        pass
    raise _BOOK_TICKER.error(d)


_MARK_PRICE = Shape("markPriceUpdate", s=STR, p=DEC, E=INT, i=DEC_OR_EMPTY, r=DEC_OR_EMPTY, T=INT)


def parse_mark_price(d: Mapping[str, Any]) -> MarkPrice:
    """`markPriceUpdate` → `MarkPrice` with index price, funding rate and next funding time.

    COIN-M delivery contracts have no funding: Binance sends `r: ""` and `T: 0`; both become
    None here, as does an empty index price.
    """
    s, p, e, i, r, t = _MARK_PRICE.values(d)
    try:
        mark, index, rate = D(p), D(i) if i else None, D(r) if r else None
        if mark.is_finite() and (index is None or index.is_finite()) and (rate is None or rate.is_finite()):
            return MarkPrice(s, mark, e, index, rate, t or None)
    except ArithmeticError:
        pass
    raise _MARK_PRICE.error(d)


_INDEX_PRICE = Shape("indexPriceUpdate", i=STR, p=DEC, E=INT)


def parse_index_price(d: Mapping[str, Any]) -> IndexPrice:
    """COIN-M `<pair>@indexPrice` (`indexPriceUpdate`) → `IndexPrice`; `symbol` is the pair."""
    i, p, e = _INDEX_PRICE.checked(d)
    return IndexPrice(i, D(p), e)


_DEPTH = Shape("depthUpdate", s=STR, E=INT, T=INT, U=INT, u=INT, pu=INT, b=LIST, a=LIST)


def parse_depth_update(d: Mapping[str, Any]) -> DepthUpdate:
    """`depthUpdate` (diff or partial) → `DepthUpdate`."""
    s, e, t, first, final, prev, b, a = _DEPTH.values(d)
    return DepthUpdate(s, first, final, prev, levels(b, "depthUpdate", "b"), levels(a, "depthUpdate", "a"), e, t)


_FORCE = Shape("forceOrder", E=INT, o=OBJ)
_FORCE_O = Shape(
    "forceOrder",
    "o.",
    s=STR,
    S=one_of(SIDES),
    o=STR,
    f=STR,
    q=DEC,
    p=DEC,
    ap=DEC,
    X=one_of(ORDER_STATUSES),
    l=DEC,
    z=DEC,
    T=INT,
)


def parse_force_order(d: Mapping[str, Any]) -> Liquidation:
    """`forceOrder` → `Liquidation`."""
    o = _FORCE.values(d)[1]
    s, side, typ, tif, q, p, ap, status, last, cum, t = _FORCE_O.checked(o)
    return Liquidation(s, SIDES[side], typ, tif, D(q), D(p), D(ap), ORDER_STATUSES[status], D(last), D(cum), t)


# -- routing ------------------------------------------------------------------------------------

Parser = Callable[[Mapping[str, Any]], MarketMessage | None]

_BY_EVENT: dict[str, Parser] = {
    "aggTrade": parse_agg_trade,
    "trade": parse_trade,
    "bookTicker": parse_book_ticker,
    "markPriceUpdate": parse_mark_price,
    "indexPriceUpdate": parse_index_price,
    "kline": parse_kline_closed,
    "continuous_kline": parse_continuous_kline_closed,
    "depthUpdate": parse_depth_update,
    "forceOrder": parse_force_order,
}
_BY_EVENT_OPEN_KLINES: dict[str, Parser] = {
    **_BY_EVENT,
    "kline": lambda d: _open_or_closed(parse_kline(d)),
    "continuous_kline": lambda d: _open_or_closed(parse_continuous_kline(d)),
}


def _open_or_closed(k: KlineUpdate) -> KlineUpdate | CandleClosed:
    return k.closed() if k.is_closed else k


def _decode(raw: Any) -> Any:
    if isinstance(raw, bytes | bytearray | memoryview | str):
        return loads(raw, "market message")
    return raw


def parse_market_message(raw: Raw, *, open_klines: bool = False) -> MarketMessage | None:
    """Parse one market-stream frame into its event; None when it holds nothing to act on.

    `raw` is the frame's text or bytes, or the object already decoded from it, raw or in the
    combined-stream wrapper `{"stream": ..., "data": ...}`. Routing is by the event type `e`;
    a frame without `e` is a bookTicker when its stream name (or its fields) say so, or the
    reply to a SUBSCRIBE-style request (`ControlReply`).

    Returns None for event types this module does not parse (tickers, contractInfo, asset
    index, mark/index-price klines, ... and any type Binance adds later) and for klines that
    are still open, unless `open_klines` asks for them as `KlineUpdate`: unknown types are
    skipped, never fatal. Closed klines come as `CandleClosed`.

    Raises `PayloadError` for text that is not JSON, for a JSON array (the `!...@arr` streams;
    use `parse_market_batch`) and for a known event with a missing or mistyped field.
    """
    d = raw if type(raw) is dict else _decode(raw)
    table = _BY_EVENT_OPEN_KLINES if open_klines else _BY_EVENT
    try:
        e = d.get("e")
    except AttributeError:
        raise _not_an_object(d) from None
    if e is None:
        return _without_type(d, table)
    parser = table.get(e) if type(e) is str else None
    return None if parser is None else parser(d)


def parse_market_batch(raw: Raw | list[Any], *, open_klines: bool = False) -> tuple[MarketMessage, ...]:
    """Like `parse_market_message`, for frames that may carry an array of events.

    The all-market streams (`!markPrice@arr`, `!forceOrder@arr`, ...) send JSON arrays; this
    parses each element and leaves out the Nones. A single event gives a 1-tuple (or ()).
    """
    d: Any = raw if isinstance(raw, dict | list) else _decode(raw)
    if isinstance(d, Mapping) and "e" not in d and type(d.get("data")) is list:
        d = d["data"]
    if type(d) is not list:
        one = parse_market_message(d, open_klines=open_klines)
        return () if one is None else (one,)
    out = []
    for i, item in enumerate(d):
        try:
            event = parse_market_message(item, open_klines=open_klines)
        except PayloadError as exc:
            raise exc.within(f"[{i}]") from None
        if event is not None:
            out.append(event)
    return tuple(out)


def _not_an_object(d: Any) -> PayloadError:
    hint = " (an `@arr` stream: use parse_market_batch)" if type(d) is list else ""
    return PayloadError("market message", "", f"expected an object, got {json_name(d)}{hint}")


def _without_type(d: Mapping[str, Any], table: Mapping[str, Parser]) -> MarketMessage | None:
    data = d.get("data")
    if data is not None and "stream" in d:
        stream = d["stream"]
        if not isinstance(data, Mapping):
            raise _not_an_object(data).within("data")
        e = data.get("e")
        try:
            if e is None:
                # Some bookTicker forms carry no `e`; the stream name says what it is.
                if type(stream) is str and stream.endswith("bookTicker"):
                    return parse_book_ticker(data)
                return None
            parser = table.get(e) if type(e) is str else None
            return None if parser is None else parser(data)
        except PayloadError as exc:
            raise exc.within("data") from None
    if "id" in d and ("result" in d or "error" in d):
        return _control_reply(d)
    if "u" in d and "b" in d and "A" in d and "s" in d:  # a raw bookTicker without `e`
        return parse_book_ticker(d)
    return None


_REFUSAL = Shape("control reply", "error.", code=INT, msg=STR)


def _control_reply(d: Mapping[str, Any]) -> ControlReply:
    ident = d["id"]
    if ident is not None and type(ident) not in (int, str):
        raise PayloadError("control reply", "id", f"expected an integer, got {json_name(ident)}")
    error = d.get("error")
    if error is None:
        return ControlReply(ident, d.get("result"))
    code, msg = _REFUSAL.values(error)
    return ControlReply(ident, None, code, msg)
