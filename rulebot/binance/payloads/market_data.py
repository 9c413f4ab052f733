"""Binance Futures REST market-data responses parsed into values: depth, klines, premiumIndex,
fundingRate and fundingInfo (FACTS.md §5).

Pass every body through `rest.check_error` first; these parsers raise `PayloadError` naming the
field when the body does not have the documented shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.codes import PayloadError
from rulebot.binance.payloads.common import (
    DEC,
    DEC_OR_EMPTY,
    INT,
    LIST,
    STR,
    Shape,
    decimal_or_none,
    each,
    is_decimal,
    json_name,
    levels,
    optional,
)
from rulebot.core.events import CandleClosed, FundingRate, MarkPrice

__all__ = [
    "DEFAULT_FUNDING_INTERVAL_HOURS",
    "DepthSnapshot",
    "FundingInfo",
    "MarkPriceInfo",
    "parse_depth",
    "parse_funding_info",
    "parse_funding_rates",
    "parse_klines",
    "parse_premium_index",
    "parse_premium_indexes",
]

D = Decimal
DEFAULT_FUNDING_INTERVAL_HOURS = 8  # symbols missing from fundingInfo settle every 8 h


# -- market data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """`GET /fapi/v1/depth`: the book up to `last_update_id`, where the local book starts from
    (FACTS.md §9.1). The response names no symbol; the caller's request does."""

    symbol: str
    last_update_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]  # (price, qty), best first
    asks: tuple[tuple[Decimal, Decimal], ...]
    time: int | None  # E, message output time
    transaction_time: int | None  # T


_DEPTH = Shape("depth", lastUpdateId=INT, bids=LIST, asks=LIST)


def parse_depth(d: Mapping[str, Any], symbol: str) -> DepthSnapshot:
    """A depth snapshot of `symbol` → `DepthSnapshot`."""
    last, bids, asks = _DEPTH.values(d)
    return DepthSnapshot(
        symbol,
        last,
        levels(bids, "depth", "bids"),
        levels(asks, "depth", "asks"),
        optional(d, "E", INT, "depth"),
        optional(d, "T", INT, "depth"),
    )


_KLINE_ROW = (int, str, str, str, str, str, int, str, int, str)
_KLINE_COLUMNS = (
    "open time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close time",
    "quote volume",
    "trades",
    "taker buy volume",
)


def _kline_row(row: Any, symbol: str, interval: str) -> CandleClosed:
    if type(row) is list and len(row) >= 10 and tuple(map(type, row[:10])) == _KLINE_ROW:
        open_t, o, h, lo, c, v, close_t, qv, n, taker = row[:10]
        try:
            return CandleClosed(symbol, interval, open_t, close_t, D(o), D(h), D(lo), D(c), D(v), D(qv), n, D(taker))
        except ArithmeticError:
            pass
    if type(row) is not list or len(row) < 10:
        raise PayloadError("klines", "", f"expected an array of 12 columns, got {row!r:.80}")
    for j, (value, want, column) in enumerate(zip(row, _KLINE_ROW, _KLINE_COLUMNS, strict=False)):
        if type(value) is not want or (want is str and not is_decimal(value)):
            label = "an integer" if want is int else "a decimal string"
            reason = f"{column}: expected {label}, got {json_name(value)} {value!r:.40}"
            raise PayloadError("klines", f"[{j}]", reason)
    raise PayloadError("klines", "", "malformed row")  # pragma: no cover - all columns checked


def parse_klines(
    payload: Any, symbol: str, interval: str, *, server_time: int | None = None
) -> tuple[CandleClosed, ...]:
    """klines / continuousKlines (arrays of columns, oldest first) → `CandleClosed`s.

    Binance includes the candle still forming as the last row. Pass `server_time` (ms) to
    drop every candle whose close time is not yet past; without it every row is returned.
    """
    candles = each(payload, "klines", lambda row: _kline_row(row, symbol, interval))
    if server_time is None:
        return candles
    return tuple(c for c in candles if c.close_time < server_time)


@dataclass(frozen=True, slots=True)
class MarkPriceInfo:
    """`GET premiumIndex`: the mark price event plus what it does not carry.

    `mark.funding_rate` is Binance's `lastFundingRate`, which despite the name is the rate
    estimated for the coming settlement at `mark.next_funding_time` (both None on delivery
    contracts, which have no funding).
    """

    mark: MarkPrice
    estimated_settle_price: Decimal | None
    interest_rate: Decimal | None


_PREMIUM = Shape(
    "premiumIndex",
    symbol=STR,
    markPrice=DEC,
    indexPrice=DEC_OR_EMPTY,
    time=INT,
    lastFundingRate=DEC_OR_EMPTY,
    nextFundingTime=INT,
)


def parse_premium_index(d: Mapping[str, Any]) -> MarkPriceInfo:
    """One premiumIndex object → `MarkPriceInfo`."""
    symbol, mark, index, t, rate, next_t = _PREMIUM.values(d)
    k = "premiumIndex"
    settle = optional(d, "estimatedSettlePrice", DEC_OR_EMPTY, k)
    interest = optional(d, "interestRate", DEC_OR_EMPTY, k)
    try:
        event = MarkPrice(symbol, D(mark), t, decimal_or_none(index), decimal_or_none(rate), next_t or None)
    except ArithmeticError:
        raise _PREMIUM.error(d) from None
    return MarkPriceInfo(event, decimal_or_none(settle), decimal_or_none(interest))


def parse_premium_indexes(payload: Any) -> tuple[MarkPriceInfo, ...]:
    """premiumIndex as an array (no `symbol` sent, and always on COIN-M) or one object."""
    if isinstance(payload, Mapping):
        return (parse_premium_index(payload),)
    return each(payload, "premiumIndex", parse_premium_index)


_FUNDING = Shape("fundingRate", symbol=STR, fundingRate=DEC, fundingTime=INT)


def _funding(d: Any) -> FundingRate:
    symbol, rate, t = _FUNDING.values(d)
    mark = optional(d, "markPrice", DEC_OR_EMPTY, "fundingRate")
    try:
        return FundingRate(symbol, D(rate), t, decimal_or_none(mark))
    except ArithmeticError:
        raise _FUNDING.error(d) from None


def parse_funding_rates(payload: Any) -> tuple[FundingRate, ...]:
    """fundingRate history (ascending) → `FundingRate`s (`interval_hours` unknown: None)."""
    return each(payload, "fundingRate", _funding)


@dataclass(frozen=True, slots=True)
class FundingInfo:
    """fundingInfo: a symbol whose funding cap, floor or interval was adjusted.

    Only adjusted symbols are listed; the others settle every `DEFAULT_FUNDING_INTERVAL_HOURS`.
    """

    symbol: str
    interval_hours: int
    rate_cap: Decimal
    rate_floor: Decimal


_FUNDING_INFO = Shape(
    "fundingInfo",
    symbol=STR,
    fundingIntervalHours=INT,
    adjustedFundingRateCap=DEC,
    adjustedFundingRateFloor=DEC,
)


def _funding_info(d: Any) -> FundingInfo:
    symbol, hours, cap, floor = _FUNDING_INFO.values(d)
    try:
        return FundingInfo(symbol, hours, D(cap), D(floor))
    except ArithmeticError:
        raise _FUNDING_INFO.error(d) from None


def parse_funding_info(payload: Any) -> dict[str, FundingInfo]:
    """fundingInfo (an array) → `FundingInfo` by symbol."""
    return {f.symbol: f for f in each(payload, "fundingInfo", _funding_info)}
