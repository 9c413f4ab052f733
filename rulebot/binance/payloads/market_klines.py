"""Binance Futures kline streams (`<symbol>@kline_<interval>`, `<pair>_<contract>@continuousKline_<interval>`,
FACTS.md §9) parsed into `KlineUpdate` (open or closed) or the engine's `CandleClosed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.common import BOOL, DEC, INT, OBJ, STR, Shape
from rulebot.core.events import CandleClosed

D = Decimal


@dataclass(frozen=True, slots=True)
class KlineUpdate:
    """A kline as it stands at `time` (event time), open (`is_closed` False) or just closed.

    The engine acts on `CandleClosed` only; this is for consumers that want the forming
    candle (`parse_market_message(..., open_klines=True)`).
    """

    symbol: str
    timeframe: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy_volume: Decimal
    is_closed: bool
    time: int

    def closed(self) -> CandleClosed:
        """The candle as the engine sees it (meaningful once `is_closed`)."""
        return CandleClosed(
            self.symbol,
            self.timeframe,
            self.open_time,
            self.close_time,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.quote_volume,
            self.trades,
            self.taker_buy_volume,
        )


def _kline_body(kind: str) -> Shape:
    return Shape(
        kind,
        "k.",
        t=INT,
        T=INT,
        i=STR,
        o=DEC,
        h=DEC,
        l=DEC,
        c=DEC,
        v=DEC,
        q=DEC,
        n=INT,
        V=DEC,
        x=BOOL,
    )


_KLINE = Shape("kline", s=STR, E=INT, k=OBJ)


_KLINE_K = _kline_body("kline")


_CKLINE = Shape("continuous_kline", ps=STR, ct=STR, E=INT, k=OBJ)


_CKLINE_K = _kline_body("continuous_kline")


def _kline(symbol: str, e: int, k: Any, shape: Shape) -> KlineUpdate:
    t, close_t, i, o, h, lo, c, v, q, n, taker, x = shape.checked(k)
    return KlineUpdate(symbol, i, t, close_t, D(o), D(h), D(lo), D(c), D(v), D(q), n, D(taker), x, e)


def _closed(symbol: str, k: Any, shape: Shape) -> CandleClosed | None:
    # Most kline frames (one per 250 ms) are of the forming candle: for those only the types
    # and `x` are checked; the closed one, once per interval, is checked in full.
    if not shape.values(k)[-1]:
        return None
    t, close_t, i, o, h, lo, c, v, q, n, taker, _x = shape.checked(k)
    return CandleClosed(symbol, i, t, close_t, D(o), D(h), D(lo), D(c), D(v), D(q), n, D(taker))


def parse_kline(d: Mapping[str, Any]) -> KlineUpdate:
    """`kline` → `KlineUpdate`, open or closed (`.closed()` gives the `CandleClosed`)."""
    s, e, k = _KLINE.values(d)
    return _kline(s, e, k, _KLINE_K)


def parse_kline_closed(d: Mapping[str, Any]) -> CandleClosed | None:
    """`kline` → `CandleClosed` when the kline is closed (`x: true`), else None."""
    s, _e, k = _KLINE.values(d)
    return _closed(s, k, _KLINE_K)


def continuous_symbol(pair: str, contract_type: str) -> str:
    """The name a continuous-contract series goes by: `BTCUSDT_PERPETUAL`, `BTCUSD_CURRENT_QUARTER`.

    Not a tradable symbol: the series rolls from one delivery contract to the next, so the
    caller maps it to whatever its rulebook calls the series.
    """
    return f"{pair}_{contract_type}"


def parse_continuous_kline(d: Mapping[str, Any]) -> KlineUpdate:
    """`continuous_kline` → `KlineUpdate` named by `continuous_symbol(ps, ct)`."""
    ps, ct, e, k = _CKLINE.values(d)
    return _kline(continuous_symbol(ps, ct), e, k, _CKLINE_K)


def parse_continuous_kline_closed(d: Mapping[str, Any]) -> CandleClosed | None:
    """`continuous_kline` → `CandleClosed` when closed, else None."""
    ps, ct, _e, k = _CKLINE.values(d)
    return _closed(continuous_symbol(ps, ct), k, _CKLINE_K)
