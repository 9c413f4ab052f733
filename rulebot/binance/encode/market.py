"""Market-stream events as Binance sends them (FACTS §9), one encoder per stream, and
`market_payload`, which picks the one for a core market event."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rulebot.binance.encode.fields import dec
from rulebot.binance.payloads.market import DepthUpdate, Liquidation
from rulebot.core.enums import Market
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade


def agg_trade(t: Trade, event_time: int | None = None) -> dict[str, Any]:
    first = t.trade_id if t.first_trade_id is None else t.first_trade_id
    last = t.trade_id if t.last_trade_id is None else t.last_trade_id
    return {
        "e": "aggTrade",
        "E": event_time or t.time,
        "s": t.symbol,
        "a": t.trade_id,
        "p": dec(t.price),
        "q": dec(t.qty),
        "nq": dec(t.qty),
        "f": first,
        "l": last,
        "T": t.time,
        "m": t.is_buyer_maker,
    }


def mark_price_update(m: MarkPrice, market: Market = Market.USDM) -> dict[str, Any]:
    # Delivery contracts have no funding: Binance sends r "" and T 0.
    return {
        "e": "markPriceUpdate",
        "E": m.time,
        "s": m.symbol,
        "p": dec(m.mark_price),
        "ap": dec(m.mark_price),
        "i": dec(m.index_price, ""),
        "P": dec(m.mark_price),
        "r": dec(m.funding_rate, ""),
        "T": m.next_funding_time or 0,
    }


def book_ticker(b: BookTop, update_id: int | None = None) -> dict[str, Any]:
    return {
        "e": "bookTicker",
        "u": b.update_id if update_id is None else update_id,
        "E": b.time,
        "T": b.time,
        "s": b.symbol,
        "b": dec(b.bid),
        "B": dec(b.bid_qty),
        "a": dec(b.ask),
        "A": dec(b.ask_qty),
    }


def _kline_body(c: CandleClosed, closed: bool) -> dict[str, Any]:
    return {
        "t": c.open_time,
        "T": c.close_time,
        "s": c.symbol,
        "i": c.timeframe,
        "f": 0,
        "L": 0,
        "o": dec(c.open),
        "c": dec(c.close),
        "h": dec(c.high),
        "l": dec(c.low),
        "v": dec(c.volume),
        "n": c.trades,
        "x": closed,
        "q": dec(c.quote_volume),
        "V": dec(c.taker_buy_volume),
        "Q": "0",
        "B": "0",
    }


def kline(c: CandleClosed, event_time: int | None = None, closed: bool = True) -> dict[str, Any]:
    k = _kline_body(c, closed)
    return {"e": "kline", "E": event_time or c.close_time, "s": c.symbol, "k": k}


def continuous_kline(
    c: CandleClosed, pair: str, contract_type: str = "PERPETUAL", closed: bool = True
) -> dict[str, Any]:
    k = _kline_body(c, closed)
    del k["s"]
    return {"e": "continuous_kline", "E": c.close_time, "ps": pair, "ct": contract_type, "k": k}


def depth_update(
    symbol: str,
    time: int,
    first: int,
    last: int,
    prev: int,
    bids: Sequence[tuple[Decimal, Decimal]],
    asks: Sequence[tuple[Decimal, Decimal]],
) -> dict[str, Any]:
    return {
        "e": "depthUpdate",
        "E": time,
        "T": time,
        "s": symbol,
        "U": first,
        "u": last,
        "pu": prev,
        "b": [[dec(p), dec(q)] for p, q in bids],
        "a": [[dec(p), dec(q)] for p, q in asks],
    }


def depth_diff(d: DepthUpdate) -> dict[str, Any]:
    out = depth_update(d.symbol, d.time, d.first_update_id, d.final_update_id, d.prev_final_update_id, d.bids, d.asks)
    out["T"] = d.transaction_time
    return out


def force_order(x: Liquidation, event_time: int | None = None) -> dict[str, Any]:
    o = {
        "s": x.symbol,
        "S": x.side.value,
        "o": x.order_type,
        "f": x.time_in_force,
        "q": dec(x.quantity),
        "p": dec(x.price),
        "ap": dec(x.average_price),
        "X": x.status.value,
        "l": dec(x.last_filled_qty),
        "z": dec(x.filled_qty),
        "T": x.time,
    }
    return {"e": "forceOrder", "E": event_time or x.time, "o": o}


def market_streams_of(event: object) -> tuple[str, ...]:
    """Every stream an event is published on (lowercase symbol, as Binance names them)."""
    symbol = getattr(event, "symbol", "").lower()
    if isinstance(event, Trade):
        return (f"{symbol}@aggTrade",)
    if isinstance(event, BookTop):
        return (f"{symbol}@bookTicker",)
    if isinstance(event, MarkPrice):
        return (f"{symbol}@markPrice@1s", f"{symbol}@markPrice")
    if isinstance(event, CandleClosed):
        return (f"{symbol}@kline_{event.timeframe}",)
    if isinstance(event, DepthUpdate):
        return (f"{symbol}@depth", f"{symbol}@depth@100ms", f"{symbol}@depth@500ms")
    if isinstance(event, Liquidation):
        return (f"{symbol}@forceOrder",)
    return ()


def stream_name(event: object) -> str | None:
    """The main stream an event is published on."""
    names = market_streams_of(event)
    return names[0] if names else None


def market_payload(event: object, market: Market = Market.USDM) -> dict[str, Any] | None:
    if isinstance(event, Trade):
        return agg_trade(event)
    if isinstance(event, BookTop):
        return book_ticker(event)
    if isinstance(event, MarkPrice):
        return mark_price_update(event, market)
    if isinstance(event, CandleClosed):
        return kline(event)
    if isinstance(event, DepthUpdate):
        return depth_diff(event)
    if isinstance(event, Liquidation):
        return force_order(event)
    return None
