"""Binance Futures REST account-state responses parsed into values: positionRisk, balance,
userTrades, leverage, listenKey and commissionRate (FACTS.md §5).

Pass every body through `rest.check_error` first; these parsers raise `PayloadError` naming the
field when the body does not have the documented shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rulebot.binance.codes import PayloadError
from rulebot.binance.payloads.account import fee_rates_from_payload
from rulebot.binance.payloads.common import (
    BOOL,
    DEC,
    INT,
    MARGIN_TYPES,
    POSITION_SIDES,
    SIDES,
    STR,
    Shape,
    decimal_or_none,
    each,
    is_decimal,
    json_name,
    one_of,
    optional,
)
from rulebot.core.account_events import BalanceChange, PositionChange
from rulebot.core.enums import (
    MarginType,
    PositionSide,
    Side,
)
from rulebot.core.fees import FeeRates

__all__ = [
    "AssetBalance",
    "LeverageSetting",
    "PositionRisk",
    "UserTrade",
    "parse_balances",
    "parse_commission_rate",
    "parse_leverage",
    "parse_listen_key",
    "parse_position_risk",
    "parse_user_trades",
    "reconciled_balance",
    "reconciled_position",
]

D = Decimal


def _text_bool(value: Any, kind: str, field: str) -> bool:
    # positionRisk sends isAutoAddMargin as the *string* "true"/"false".
    if value in ("true", "false"):
        return bool(value == "true")
    if type(value) is bool:
        return value
    raise PayloadError(kind, field, f'expected "true" or "false", got {value!r:.60}')


# -- positions and balances ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """One row of `GET /fapi/v2/positionRisk` or `/dapi/v1/positionRisk`: what the venue parses
    Binance's answer into, and what the simulator answers with (`SimExchange.positions`), so that
    the fake exchange prints it with `encode.position_json` and the two cannot drift apart.

    One-way mode gives one `BOTH` row per symbol, hedge mode a `LONG` and a `SHORT` row;
    `amount` is signed. USDⓈ-M caps the position by `max_notional`, COIN-M by `max_qty` (the
    other is None), and only USDⓈ-M prints `notional`. Fields older payloads lack
    (`breakEvenPrice`, `notional`, `isolatedWallet`) are None.
    """

    symbol: str
    position_side: PositionSide
    amount: Decimal
    entry_price: Decimal
    break_even_price: Decimal | None
    mark_price: Decimal
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None  # None where Binance prints "0" (no position, or none in reach)
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
    "positionRisk",
    symbol=STR,
    positionSide=one_of(POSITION_SIDES),
    positionAmt=DEC,
    entryPrice=DEC,
    markPrice=DEC,
    unRealizedProfit=DEC,
    liquidationPrice=DEC,
    leverage=DEC,
    marginType=one_of(MARGIN_TYPES),
    isolatedMargin=DEC,
    updateTime=INT,
)


def _position(d: Any) -> PositionRisk:
    (symbol, ps, amount, entry, mark, upnl, liq, leverage, mt, iso, updated) = _POSITION.values(d)
    k = "positionRisk"
    if not leverage.isdigit():  # a string, "4"
        raise PayloadError(k, "leverage", f"expected a whole number, got {leverage!r:.60}")
    auto = _text_bool(d.get("isAutoAddMargin", "false"), k, "isAutoAddMargin")
    try:
        return PositionRisk(
            symbol,
            POSITION_SIDES[ps],
            D(amount),
            D(entry),
            decimal_or_none(optional(d, "breakEvenPrice", DEC, k)),
            D(mark),
            D(upnl),
            decimal_or_none(liq, zero=True),
            int(leverage),
            MARGIN_TYPES[mt],
            D(iso),
            decimal_or_none(optional(d, "isolatedWallet", DEC, k)),
            decimal_or_none(optional(d, "notional", DEC, k)),
            decimal_or_none(optional(d, "maxNotionalValue", DEC, k)),
            decimal_or_none(optional(d, "maxQty", DEC, k)),
            auto,
            updated,
        )
    except (KeyError, ArithmeticError):
        raise _POSITION.error(d) from None


def parse_position_risk(payload: Any) -> tuple[PositionRisk, ...]:
    """positionRisk (an array; one-way or hedge mode; USDⓈ-M v2 or COIN-M v1) → rows."""
    return each(payload, "positionRisk", _position)


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """One asset of `GET /fapi/v2/balance` or `/dapi/v1/balance`: what the venue parses Binance's
    answer into and what the simulator answers with (`SimExchange.balances`).

    `wallet_balance` is the payload's `balance`. `max_withdraw` is USDⓈ-M's `maxWithdrawAmount`
    or COIN-M's `withdrawAvailable`; `margin_available` (multi-assets mode) is USDⓈ-M only.
    """

    account_alias: str
    asset: str
    wallet_balance: Decimal  # `balance` on the wire; named as ACCOUNT_UPDATE's `wb` and core's BalanceChange
    cross_wallet_balance: Decimal
    cross_unrealized_pnl: Decimal
    available_balance: Decimal
    max_withdraw: Decimal
    margin_available: bool | None
    update_time: int


_BALANCE = Shape(
    "balance",
    accountAlias=STR,
    asset=STR,
    balance=DEC,
    crossWalletBalance=DEC,
    crossUnPnl=DEC,
    availableBalance=DEC,
    updateTime=INT,
)


def _balance(d: Any) -> AssetBalance:
    alias, asset, balance, cross, cross_upnl, available, updated = _BALANCE.values(d)
    k = "balance"
    withdraw = optional(d, "maxWithdrawAmount", DEC, k) or optional(d, "withdrawAvailable", DEC, k)
    if withdraw is None:
        raise PayloadError(k, "maxWithdrawAmount", "missing (nor is withdrawAvailable there)")
    try:
        return AssetBalance(
            alias,
            asset,
            D(balance),
            D(cross),
            D(cross_upnl),
            D(available),
            D(withdraw),
            optional(d, "marginAvailable", BOOL, k),
            updated,
        )
    except ArithmeticError:
        raise _BALANCE.error(d) from None


def parse_balances(payload: Any) -> tuple[AssetBalance, ...]:
    """balance (an array, one item per asset) → `AssetBalance`s."""
    return each(payload, "balance", _balance)


def reconciled_position(p: PositionRisk) -> PositionChange:
    """A positionRisk row as the ACCOUNT_UPDATE position a reconciliation feeds the engine.

    The row carries no realized PnL (0 here). Where an older payload lacks `breakEvenPrice` the
    entry price stands in. Where it lacks `isolatedWallet` (COIN-M's positionRisk always does), an
    isolated position's wallet is `isolatedMargin - unRealizedProfit` (MARGIN.md E10: the margin
    shown includes the PnL; taken as the wallet, the PnL counted twice once marked).
    """
    break_even = p.break_even_price if p.break_even_price is not None else p.entry_price
    wallet = p.isolated_wallet
    if wallet is None:
        isolated = p.margin_type is MarginType.ISOLATED
        wallet = p.isolated_margin - p.unrealized_pnl if isolated and p.amount else p.isolated_margin
    return PositionChange(
        p.symbol,
        p.position_side,
        p.amount,
        p.entry_price,
        break_even,
        D(0),
        p.unrealized_pnl,
        p.margin_type,
        wallet,
    )


def reconciled_balance(b: AssetBalance) -> BalanceChange:
    """A balance row as the ACCOUNT_UPDATE balance a reconciliation feeds the engine (no change)."""
    return BalanceChange(b.asset, b.wallet_balance, b.cross_wallet_balance, D(0))


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
    "userTrades",
    symbol=STR,
    id=INT,
    orderId=INT,
    side=one_of(SIDES),
    positionSide=one_of(POSITION_SIDES),
    price=DEC,
    qty=DEC,
    realizedPnl=DEC,
    commission=DEC,
    commissionAsset=STR,
    buyer=BOOL,
    maker=BOOL,
    time=INT,
)


def _user_trade(d: Any) -> UserTrade:
    (symbol, tid, oid, side, ps, price, qty, rpnl, fee, fee_asset, buyer, maker, t) = _USER_TRADE.values(d)
    k = "userTrades"
    try:
        return UserTrade(
            symbol,
            tid,
            oid,
            SIDES[side],
            POSITION_SIDES[ps],
            D(price),
            D(qty),
            decimal_or_none(optional(d, "quoteQty", DEC, k)),
            decimal_or_none(optional(d, "baseQty", DEC, k)),
            D(rpnl),
            D(fee),
            fee_asset,
            optional(d, "marginAsset", STR, k),
            buyer,
            maker,
            t,
        )
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
