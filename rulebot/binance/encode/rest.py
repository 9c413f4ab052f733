"""REST answers as Binance sends them: orders, algo orders, positions, balances."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from rulebot.binance.encode.fields import MARGIN_TYPE_WORDS, dec, tif, wire_name
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.enums import MarginType, PositionSide, WorkingType


class PositionView(Protocol):
    """What `position_json` reads: the simulator's position view has these (by shape, so that the
    wire format does not import the simulator, a layer above it)."""

    @property
    def symbol(self) -> str: ...
    @property
    def position_side(self) -> PositionSide: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def entry_price(self) -> Decimal: ...
    @property
    def break_even_price(self) -> Decimal: ...
    @property
    def mark_price(self) -> Decimal: ...
    @property
    def unrealized_pnl(self) -> Decimal: ...
    @property
    def liquidation_price(self) -> Decimal | None: ...
    @property
    def leverage(self) -> int: ...
    @property
    def max_notional(self) -> Decimal: ...
    @property
    def margin_type(self) -> MarginType: ...
    @property
    def isolated_wallet(self) -> Decimal: ...
    @property
    def isolated_margin(self) -> Decimal: ...
    @property
    def notional(self) -> Decimal: ...
    @property
    def update_time(self) -> int: ...


class BalanceView(Protocol):
    """What `balance_json` reads (the simulator's balance view, by shape)."""

    @property
    def asset(self) -> str: ...
    @property
    def wallet_balance(self) -> Decimal: ...
    @property
    def cross_wallet_balance(self) -> Decimal: ...
    @property
    def cross_unrealized_pnl(self) -> Decimal: ...
    @property
    def available_balance(self) -> Decimal: ...
    @property
    def update_time(self) -> int: ...


def order_json(o: OrderView) -> dict[str, Any]:
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status.value,
        "clientOrderId": o.client_order_id,
        "price": dec(o.price),
        "avgPrice": dec(o.average_price),
        "origQty": dec(o.quantity),
        "executedQty": dec(o.filled_qty),
        "cumQty": dec(o.filled_qty),
        "cumQuote": dec(o.cum_quote),
        "timeInForce": tif(o.time_in_force),
        "type": wire_name(o.order_type),
        "origType": wire_name(o.order_type),
        "reduceOnly": o.reduce_only,
        "closePosition": o.close_position,
        "side": o.side.value,
        "positionSide": o.position_side.value,
        "stopPrice": dec(o.trigger_price),
        "workingType": wire_name(o.working_type or WorkingType.CONTRACT_PRICE),
        "priceProtect": o.price_protect,
        "activatePrice": dec(o.activation_price, ""),
        "priceRate": dec(o.callback_rate, ""),
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": o.time,
        "updateTime": o.time,
    }


def algo_json(a: AlgoOrderView) -> dict[str, Any]:
    return {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": wire_name(a.order_type),
        "symbol": a.symbol,
        "side": a.side.value,
        "positionSide": a.position_side.value,
        "timeInForce": tif(a.time_in_force),
        "quantity": dec(a.quantity),
        "algoStatus": a.status,
        "triggerPrice": dec(a.trigger_price, ""),
        "price": dec(a.price, ""),
        "icebergQuantity": None,
        "selfTradePreventionMode": "NONE",
        "workingType": wire_name(a.working_type or WorkingType.CONTRACT_PRICE),
        "priceMatch": "NONE",
        "closePosition": a.close_position,
        "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only,
        "activatePrice": dec(a.activation_price, ""),
        "callbackRate": dec(a.callback_rate, ""),
        "createTime": a.create_time,
        "updateTime": a.create_time,
        "triggerTime": 0,
        "goodTillDate": 0,
    }


def position_json(p: PositionView) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "positionSide": p.position_side.value,
        "positionAmt": dec(p.amount),
        "entryPrice": dec(p.entry_price),
        "breakEvenPrice": dec(p.break_even_price),
        "markPrice": dec(p.mark_price),
        "unRealizedProfit": dec(p.unrealized_pnl),
        "liquidationPrice": dec(p.liquidation_price),
        "leverage": str(p.leverage),
        "maxNotionalValue": dec(p.max_notional),
        "marginType": MARGIN_TYPE_WORDS[p.margin_type],
        "isolatedMargin": dec(p.isolated_margin),
        "isAutoAddMargin": "false",
        "notional": dec(p.notional),
        "isolatedWallet": dec(p.isolated_wallet),
        "updateTime": p.update_time,
    }


def balance_json(b: BalanceView) -> dict[str, Any]:
    return {
        "accountAlias": "SgsR",
        "asset": b.asset,
        "balance": dec(b.wallet_balance),
        "crossWalletBalance": dec(b.cross_wallet_balance),
        "crossUnPnl": dec(b.cross_unrealized_pnl),
        "availableBalance": dec(b.available_balance),
        "maxWithdrawAmount": dec(b.available_balance),
        "marginAvailable": True,
        "updateTime": b.update_time,
    }
