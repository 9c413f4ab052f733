"""REST answers as Binance sends them: orders, algo orders, positions, balances."""

from __future__ import annotations

from typing import Any

from rulebot.binance.encode.fields import MARGIN_TYPE_WORDS, dec, tif, wire_name
from rulebot.binance.payloads.account_state import AssetBalance, PositionRisk
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.core.enums import Market, WorkingType


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


def position_json(p: PositionRisk) -> dict[str, Any]:
    """A positionRisk row; a field the row does not carry (None) is left out, as Binance's older and
    COIN-M payloads leave it out, so that `parse_position_risk` gives back `p`."""
    row: dict[str, Any] = {
        "symbol": p.symbol,
        "positionSide": p.position_side.value,
        "positionAmt": dec(p.amount),
        "entryPrice": dec(p.entry_price),
    }
    if p.break_even_price is not None:
        row["breakEvenPrice"] = dec(p.break_even_price)
    row |= {
        "markPrice": dec(p.mark_price),
        "unRealizedProfit": dec(p.unrealized_pnl),
        "liquidationPrice": dec(p.liquidation_price),  # None: Binance's "0"
        "leverage": str(p.leverage),
    }
    if p.max_notional is not None:
        row["maxNotionalValue"] = dec(p.max_notional)
    row |= {
        "marginType": MARGIN_TYPE_WORDS[p.margin_type],
        "isolatedMargin": dec(p.isolated_margin),
        "isAutoAddMargin": "true" if p.auto_add_margin else "false",  # a string in positionRisk
    }
    if p.notional is not None:
        row["notional"] = dec(p.notional)
    if p.isolated_wallet is not None:
        row["isolatedWallet"] = dec(p.isolated_wallet)
    row["updateTime"] = p.update_time
    if p.max_qty is not None:
        # COIN-M's cap. Binance prints it where USDⓈ-M prints maxNotionalValue; the fake has always
        # sent it last, and key order means nothing to a JSON reader, so its answers stay as they were.
        row["maxQty"] = dec(p.max_qty)
    return row


def balance_json(b: AssetBalance, market: Market) -> dict[str, Any]:
    """A balance row; COIN-M names the withdrawable amount `withdrawAvailable` (sent last, as the
    fake always has) where USDⓈ-M says `maxWithdrawAmount`."""
    row: dict[str, Any] = {
        "accountAlias": b.account_alias,
        "asset": b.asset,
        "balance": dec(b.wallet_balance),
        "crossWalletBalance": dec(b.cross_wallet_balance),
        "crossUnPnl": dec(b.cross_unrealized_pnl),
        "availableBalance": dec(b.available_balance),
    }
    if market is Market.USDM:
        row["maxWithdrawAmount"] = dec(b.max_withdraw)
    if b.margin_available is not None:
        row["marginAvailable"] = b.margin_available
    row["updateTime"] = b.update_time
    if market is Market.COINM:
        row["withdrawAvailable"] = dec(b.max_withdraw)
    return row
