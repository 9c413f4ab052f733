"""Binance Futures REST responses (FACTS.md §5) parsed into values, USDⓈ-M and COIN-M alike.

Each `parse_*` takes the decoded JSON body (orjson / json output) and raises `PayloadError`
naming the field when the body does not have the documented shape. Error bodies are not
parsed here: pass every body through `check_error` first, which raises the `BinanceError`
subclass for `{"code": <0, "msg"}`. Where core already parses a payload (exchangeInfo,
leverageBracket, commissionRate) this module delegates and only converts the error type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from rulebot.binance.codes import BinanceError, PayloadError, is_error_body
from rulebot.binance.payloads.account import brackets_from_payload, fee_rates_from_payload
from rulebot.binance.payloads.common import (
    BOOL,
    DEC,
    DEC_OR_EMPTY,
    INT,
    LIST,
    MARGIN_TYPES,
    POSITION_SIDES,
    SIDES,
    STR,
    Shape,
    decimal_or_none,
    each,
    is_decimal,
    json_name,
    levels,
    one_of,
    optional,
)
from rulebot.binance.payloads.exchange_info import InstrumentParseError, instruments_from_exchange_info
from rulebot.core.enums import (
    MarginType,
    Market,
    PositionSide,
    Side,
)
from rulebot.core.events import CandleClosed, FundingRate, MarkPrice
from rulebot.core.fees import FeeRates
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable

__all__ = [
    "DEFAULT_FUNDING_INTERVAL_HOURS",
    "AssetBalance",
    "DepthSnapshot",
    "FundingInfo",
    "LeverageSetting",
    "MarkPriceInfo",
    "PositionRisk",
    "RateLimit",
    "UserTrade",
    "check_error",
    "parse_balances",
    "parse_commission_rate",
    "parse_depth",
    "parse_exchange_info",
    "parse_funding_info",
    "parse_funding_rates",
    "parse_klines",
    "parse_leverage",
    "parse_leverage_brackets",
    "parse_listen_key",
    "parse_position_risk",
    "parse_premium_index",
    "parse_premium_indexes",
    "parse_rate_limits",
    "parse_user_trades",
]

D = Decimal
T = TypeVar("T")
DEFAULT_FUNDING_INTERVAL_HOURS = 8  # symbols missing from fundingInfo settle every 8 h


def check_error(payload: T, http_status: int | None = None) -> T:
    """Raise the `BinanceError` for an error body `{"code": <0, "msg"}`; else return `payload`.

    Success bodies in the same shape (`{"code": 200, "msg": "success"}`) pass through.
    """
    if is_error_body(payload):
        raise BinanceError.from_payload(payload, http_status)
    return payload


def _text_bool(value: Any, kind: str, field: str) -> bool:
    # positionRisk sends isAutoAddMargin as the *string* "true"/"false".
    if value in ("true", "false"):
        return bool(value == "true")
    if type(value) is bool:
        return value
    raise PayloadError(kind, field, f'expected "true" or "false", got {value!r:.60}')


# -- orders ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """One row of `GET /fapi/v2/positionRisk` or `/dapi/v1/positionRisk`.

    One-way mode gives one `BOTH` row per symbol, hedge mode a `LONG` and a `SHORT` row;
    `amount` is signed. USDⓈ-M caps the position by `max_notional`, COIN-M by `max_qty`.
    Fields older payloads lack (`breakEvenPrice`, `notional`, `isolatedWallet`) are None.
    """

    symbol: str
    position_side: PositionSide
    amount: Decimal
    entry_price: Decimal
    break_even_price: Decimal | None
    mark_price: Decimal
    unrealized_pnl: Decimal
    liquidation_price: Decimal  # 0 when there is no position (or it cannot be liquidated)
    leverage: int
    margin_type: MarginType
    isolated_margin: Decimal
    isolated_wallet: Decimal | None
    notional: Decimal | None
    max_notional: Decimal | None
    max_qty: Decimal | None
    auto_add_margin: bool
    update_time: int


_POSITION = Shape(
    "positionRisk", symbol=STR, positionSide=one_of(POSITION_SIDES), positionAmt=DEC,
    entryPrice=DEC, markPrice=DEC, unRealizedProfit=DEC, liquidationPrice=DEC, leverage=DEC,
    marginType=one_of(MARGIN_TYPES), isolatedMargin=DEC, updateTime=INT,
)  # fmt: skip


def _position(d: Any) -> PositionRisk:
    (symbol, ps, amount, entry, mark, upnl, liq, leverage, mt, iso,
     updated) = _POSITION.values(d)  # fmt: skip
    k = "positionRisk"
    if not leverage.isdigit():  # a string, "4"
        raise PayloadError(k, "leverage", f"expected a whole number, got {leverage!r:.60}")
    auto = _text_bool(d.get("isAutoAddMargin", "false"), k, "isAutoAddMargin")
    try:
        return PositionRisk(
            symbol, POSITION_SIDES[ps], D(amount), D(entry),
            decimal_or_none(optional(d, "breakEvenPrice", DEC, k)), D(mark), D(upnl), D(liq),
            int(leverage), MARGIN_TYPES[mt], D(iso),
            decimal_or_none(optional(d, "isolatedWallet", DEC, k)),
            decimal_or_none(optional(d, "notional", DEC, k)),
            decimal_or_none(optional(d, "maxNotionalValue", DEC, k)),
            decimal_or_none(optional(d, "maxQty", DEC, k)), auto, updated,
        )  # fmt: skip
    except (KeyError, ArithmeticError):
        raise _POSITION.error(d) from None


def parse_position_risk(payload: Any) -> tuple[PositionRisk, ...]:
    """positionRisk (an array; one-way or hedge mode; USDⓈ-M v2 or COIN-M v1) → rows."""
    return each(payload, "positionRisk", _position)


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """One asset of `GET /fapi/v2/balance` or `/dapi/v1/balance`.

    `max_withdraw` is USDⓈ-M's `maxWithdrawAmount` or COIN-M's `withdrawAvailable`;
    `margin_available` (multi-assets mode) is USDⓈ-M only.
    """

    account_alias: str
    asset: str
    balance: Decimal  # wallet balance
    cross_wallet_balance: Decimal
    cross_unrealized_pnl: Decimal
    available_balance: Decimal
    max_withdraw: Decimal
    margin_available: bool | None
    update_time: int


_BALANCE = Shape(
    "balance", accountAlias=STR, asset=STR, balance=DEC, crossWalletBalance=DEC, crossUnPnl=DEC,
    availableBalance=DEC, updateTime=INT,
)  # fmt: skip


def _balance(d: Any) -> AssetBalance:
    alias, asset, balance, cross, cross_upnl, available, updated = _BALANCE.values(d)
    k = "balance"
    withdraw = optional(d, "maxWithdrawAmount", DEC, k) or optional(d, "withdrawAvailable", DEC, k)
    if withdraw is None:
        raise PayloadError(k, "maxWithdrawAmount", "missing (nor is withdrawAvailable there)")
    try:
        return AssetBalance(
            alias, asset, D(balance), D(cross), D(cross_upnl), D(available), D(withdraw),
            optional(d, "marginAvailable", BOOL, k), updated,
        )  # fmt: skip
    except ArithmeticError:
        raise _BALANCE.error(d) from None


def parse_balances(payload: Any) -> tuple[AssetBalance, ...]:
    """balance (an array, one item per asset) → `AssetBalance`s."""
    return each(payload, "balance", _balance)


@dataclass(frozen=True, slots=True)
class UserTrade:
    """One fill from `GET /fapi/v1/userTrades` or `/dapi/v1/userTrades`.

    `fill_key` matches `parse_user.fill_key` of the stream event for the same fill, so a
    reconciliation after a reconnect can tell which fills the stream already delivered.
    """

    symbol: str
    trade_id: int
    order_id: int
    side: Side
    position_side: PositionSide
    price: Decimal
    qty: Decimal
    quote_qty: Decimal | None  # USDⓈ-M
    base_qty: Decimal | None  # COIN-M
    realized_pnl: Decimal
    commission: Decimal
    commission_asset: str
    margin_asset: str | None
    is_buyer: bool
    is_maker: bool
    time: int

    @property
    def fill_key(self) -> tuple[str, int, int]:
        """(symbol, order id, trade id)."""
        return (self.symbol, self.order_id, self.trade_id)


_USER_TRADE = Shape(
    "userTrades", symbol=STR, id=INT, orderId=INT, side=one_of(SIDES),
    positionSide=one_of(POSITION_SIDES), price=DEC, qty=DEC, realizedPnl=DEC, commission=DEC,
    commissionAsset=STR, buyer=BOOL, maker=BOOL, time=INT,
)  # fmt: skip


def _user_trade(d: Any) -> UserTrade:
    (symbol, tid, oid, side, ps, price, qty, rpnl, fee, fee_asset, buyer, maker,
     t) = _USER_TRADE.values(d)  # fmt: skip
    k = "userTrades"
    try:
        return UserTrade(
            symbol, tid, oid, SIDES[side], POSITION_SIDES[ps], D(price), D(qty),
            decimal_or_none(optional(d, "quoteQty", DEC, k)),
            decimal_or_none(optional(d, "baseQty", DEC, k)), D(rpnl), D(fee), fee_asset,
            optional(d, "marginAsset", STR, k), buyer, maker, t,
        )  # fmt: skip
    except (KeyError, ArithmeticError):
        raise _USER_TRADE.error(d) from None


def parse_user_trades(payload: Any) -> tuple[UserTrade, ...]:
    """userTrades (an array of fills, oldest first) → `UserTrade`s."""
    return each(payload, "userTrades", _user_trade)


@dataclass(frozen=True, slots=True)
class LeverageSetting:
    """`POST /fapi/v1/leverage` (`maxNotionalValue`) or `/dapi/v1/leverage` (`maxQty`)."""

    symbol: str
    leverage: int
    max_notional: Decimal | None
    max_qty: Decimal | None


_LEVERAGE = Shape("leverage", symbol=STR, leverage=INT)


def parse_leverage(d: Mapping[str, Any]) -> LeverageSetting:
    """The leverage change response → `LeverageSetting`."""
    symbol, leverage = _LEVERAGE.values(d)
    return LeverageSetting(
        symbol,
        leverage,
        decimal_or_none(optional(d, "maxNotionalValue", DEC, "leverage")),
        decimal_or_none(optional(d, "maxQty", DEC, "leverage")),
    )


def parse_listen_key(d: Mapping[str, Any]) -> str:
    """`POST/PUT listenKey` → the key."""
    key = d.get("listenKey") if isinstance(d, Mapping) else None
    if type(key) is not str or not key:
        raise PayloadError("listenKey", "listenKey", f"expected a non-empty string, got {key!r}")
    return key


def parse_commission_rate(d: Mapping[str, Any]) -> FeeRates:
    """`commissionRate` → core `FeeRates` (maker, taker; `rpiCommissionRate` is not kept)."""
    if not isinstance(d, Mapping):
        raise PayloadError("commissionRate", "", f"expected an object, got {json_name(d)}")
    for key in ("makerCommissionRate", "takerCommissionRate"):
        if not is_decimal(d.get(key)):
            got = d.get(key, "nothing")
            raise PayloadError("commissionRate", key, f"expected a decimal string, got {got!r}")
    return fee_rates_from_payload(d)


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
_KLINE_COLUMNS = ("open time", "open", "high", "low", "close", "volume", "close time",
                  "quote volume", "trades", "taker buy volume")  # fmt: skip


def _kline_row(row: Any, symbol: str, interval: str) -> CandleClosed:
    if type(row) is list and len(row) >= 10 and tuple(map(type, row[:10])) == _KLINE_ROW:
        open_t, o, h, lo, c, v, close_t, qv, n, taker = row[:10]
        try:
            return CandleClosed(symbol, interval, open_t, close_t, D(o), D(h), D(lo), D(c), D(v),
                                D(qv), n, D(taker))  # fmt: skip
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
    "premiumIndex", symbol=STR, markPrice=DEC, indexPrice=DEC_OR_EMPTY, time=INT,
    lastFundingRate=DEC_OR_EMPTY, nextFundingTime=INT,
)  # fmt: skip


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
    "fundingInfo", symbol=STR, fundingIntervalHours=INT, adjustedFundingRateCap=DEC,
    adjustedFundingRateFloor=DEC,
)  # fmt: skip


def _funding_info(d: Any) -> FundingInfo:
    symbol, hours, cap, floor = _FUNDING_INFO.values(d)
    try:
        return FundingInfo(symbol, hours, D(cap), D(floor))
    except ArithmeticError:
        raise _FUNDING_INFO.error(d) from None


def parse_funding_info(payload: Any) -> dict[str, FundingInfo]:
    """fundingInfo (an array) → `FundingInfo` by symbol."""
    return {f.symbol: f for f in each(payload, "fundingInfo", _funding_info)}


# -- exchange rules -------------------------------------------------------------------------------


def parse_exchange_info(payload: Mapping[str, Any], market: Market) -> dict[str, Instrument]:
    """exchangeInfo → instruments by symbol (core `instruments_from_exchange_info`)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("exchangeInfo", "", f"expected an object, got {json_name(payload)}")
    symbols = payload.get("symbols")
    if type(symbols) is not list:
        raise PayloadError("exchangeInfo", "symbols", f"expected an array, got {symbols!r:.60}")
    try:
        return instruments_from_exchange_info(payload, market)
    except (
        InstrumentParseError,
        LookupError,
        TypeError,
        ValueError,
        ArithmeticError,
        AttributeError,
    ) as exc:
        raise PayloadError("exchangeInfo", "symbols", str(exc)) from exc


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One of exchangeInfo's `rateLimits`: `limit` per `interval_num` `interval`s."""

    kind: str  # REQUEST_WEIGHT or ORDERS
    interval: str  # SECOND, MINUTE, DAY
    interval_num: int
    limit: int

    @property
    def window_ms(self) -> int:
        """The window's length in milliseconds."""
        return self.interval_num * _INTERVAL_MS[self.interval]


_INTERVAL_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_RATE_LIMIT = Shape("exchangeInfo", rateLimitType=STR, interval=one_of(_INTERVAL_MS), intervalNum=INT, limit=INT)


def parse_rate_limits(payload: Mapping[str, Any]) -> tuple[RateLimit, ...]:
    """exchangeInfo's `rateLimits` (read them at start-up: FACTS.md §4 shows the docs and the
    live values disagree) → `RateLimit`s."""
    raw = payload.get("rateLimits") if isinstance(payload, Mapping) else None
    return each(raw, "exchangeInfo", lambda r: RateLimit(*_RATE_LIMIT.values(r)), "rateLimits")


def parse_leverage_brackets(payload: Any, market: Market) -> dict[str, BracketTable]:
    """leverageBracket (USDⓈ-M v1; COIN-M v2 per symbol) → bracket tables by symbol (core
    `brackets_from_payload`; COIN-M bounds are in coin)."""
    if not isinstance(payload, Mapping | list):
        raise PayloadError("leverageBracket", "", f"expected an array, got {json_name(payload)}")
    try:
        return brackets_from_payload(payload, market)
    except (
        InstrumentParseError,
        LookupError,
        TypeError,
        ValueError,
        ArithmeticError,
        AttributeError,
    ) as exc:
        raise PayloadError("leverageBracket", "brackets", str(exc)) from exc
