"""Core values as Binance's JSON: what the fake exchange sends, in the shapes of the real payloads.

Each function mirrors one payload in `../shared/binance/payloads/`; a test round-trips every
one through the project's own parsers. Decimals are printed as Binance prints them (strings),
booleans as JSON booleans.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rulebot.core.account_events import AccountUpdate, AlgoUpdate, OrderUpdate
from rulebot.core.enums import MarginType, Market, OrderType
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.exchange_sim.model import AlgoOrderView, BalanceView, OrderView, PositionView

_TF_CODES = {"LIQUIDATION": "LIQUIDATION"}


def _d(value: Decimal | None, zero: str = "0") -> str:
    return zero if value is None else format(value, "f")


def _tif(value: Any) -> str:
    return "GTC" if value is None else str(getattr(value, "value", value))


def _type(value: Any) -> str:
    return str(getattr(value, "value", value))


# -- REST ----------------------------------------------------------------------------------------


def order_json(o: OrderView) -> dict[str, Any]:
    return {
        "orderId": o.order_id, "symbol": o.symbol, "status": o.status.value, "clientOrderId": o.client_order_id,
        "price": _d(o.price), "avgPrice": _d(o.average_price), "origQty": _d(o.quantity),
        "executedQty": _d(o.executed_qty), "cumQty": _d(o.executed_qty), "cumQuote": _d(o.cum_quote),
        "timeInForce": _tif(o.time_in_force), "type": _type(o.order_type), "origType": _type(o.order_type),
        "reduceOnly": o.reduce_only, "closePosition": o.close_position, "side": o.side.value,
        "positionSide": o.position_side.value, "stopPrice": _d(o.trigger_price),
        "workingType": o.working_type.value, "priceProtect": False,
        "activatePrice": _d(o.activation_price, ""), "priceRate": _d(o.callback_rate, ""),
        "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
        "time": o.time, "updateTime": o.time,
    }  # fmt: skip


def algo_json(a: AlgoOrderView) -> dict[str, Any]:
    return {
        "algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "algoType": "CONDITIONAL",
        "orderType": _type(a.order_type), "symbol": a.symbol, "side": a.side.value,
        "positionSide": a.position_side.value, "timeInForce": _tif(a.time_in_force), "quantity": _d(a.quantity),
        "algoStatus": a.status, "triggerPrice": _d(a.trigger_price, ""), "price": _d(a.price, ""),
        "icebergQuantity": None, "selfTradePreventionMode": "NONE", "workingType": a.working_type.value,
        "priceMatch": "NONE", "closePosition": a.close_position, "priceProtect": False, "reduceOnly": a.reduce_only,
        "activatePrice": _d(a.activation_price, ""), "callbackRate": _d(a.callback_rate, ""),
        "createTime": a.time, "updateTime": a.time, "triggerTime": 0, "goodTillDate": 0,
    }  # fmt: skip


def position_json(p: PositionView) -> dict[str, Any]:
    return {
        "symbol": p.symbol, "positionSide": p.position_side.value, "positionAmt": _d(p.amount),
        "entryPrice": _d(p.entry_price), "breakEvenPrice": _d(p.break_even_price), "markPrice": _d(p.mark_price),
        "unRealizedProfit": _d(p.unrealized_pnl), "liquidationPrice": _d(p.liquidation_price),
        "leverage": str(p.leverage), "maxNotionalValue": _d(p.max_notional),
        "marginType": "isolated" if p.margin_type is MarginType.ISOLATED else "cross",
        "isolatedMargin": _d(p.isolated_margin), "isAutoAddMargin": "false", "notional": _d(p.notional),
        "isolatedWallet": _d(p.isolated_wallet), "updateTime": p.update_time,
    }  # fmt: skip


def balance_json(b: BalanceView) -> dict[str, Any]:
    return {
        "accountAlias": "SgsR", "asset": b.asset, "balance": _d(b.wallet_balance),
        "crossWalletBalance": _d(b.cross_wallet_balance), "crossUnPnl": _d(b.cross_unrealized_pnl),
        "availableBalance": _d(b.available_balance), "maxWithdrawAmount": _d(b.available_balance),
        "marginAvailable": True, "updateTime": b.update_time,
    }  # fmt: skip


# -- user data stream ----------------------------------------------------------------------------


def order_trade_update(u: OrderUpdate, event_time: int | None = None) -> dict[str, Any]:
    otype = _type(u.order_type)
    o = {
        "s": u.symbol, "c": u.client_order_id, "S": u.side.value, "o": otype, "f": _tif(u.time_in_force),
        "q": _d(u.quantity), "p": _d(u.price), "ap": _d(u.average_price), "sp": _d(u.trigger_price),
        "x": u.execution_type, "X": u.status.value, "i": u.order_id, "l": _d(u.last_filled_qty),
        "z": _d(u.filled_qty), "L": _d(u.last_filled_price), "N": u.commission_asset or "USDT",
        "n": _d(u.commission), "T": u.time, "t": u.trade_id or 0, "b": "0", "a": "0", "m": u.is_maker,
        "R": u.reduce_only, "wt": u.working_type.value if u.working_type else "CONTRACT_PRICE", "ot": otype,
        "ps": u.position_side.value, "cp": False, "rp": _d(u.realized_pnl), "pP": False, "si": 0, "ss": 0,
        "V": "NONE", "pm": "NONE", "gtd": 0, "er": str(u.reject_code or 0),
    }  # fmt: skip
    return {"e": "ORDER_TRADE_UPDATE", "E": event_time or u.time, "T": u.time, "o": o}


def account_update(u: AccountUpdate, event_time: int | None = None) -> dict[str, Any]:
    balances = [{"a": b.asset, "wb": _d(b.wallet_balance), "cw": _d(b.cross_wallet_balance),
                 "bc": _d(b.balance_change)} for b in u.balances]  # fmt: skip
    positions = [
        {"s": p.symbol, "pa": _d(p.amount), "ep": _d(p.entry_price), "bep": _d(p.break_even_price),
         "cr": _d(p.realized_pnl), "up": _d(p.unrealized_pnl),
         "mt": "isolated" if p.margin_type is MarginType.ISOLATED else "cross", "iw": _d(p.isolated_wallet),
         "ps": p.position_side.value}
        for p in u.positions
    ]  # fmt: skip
    return {
        "e": "ACCOUNT_UPDATE",
        "E": event_time or u.time,
        "T": u.time,
        "a": {"m": u.reason, "B": balances, "P": positions},
    }


def algo_update(u: AlgoUpdate, event_time: int | None = None) -> dict[str, Any]:
    o = {
        "caid": u.client_algo_id, "aid": u.algo_id, "at": "CONDITIONAL", "o": _type(u.order_type), "s": u.symbol,
        "S": u.side.value, "ps": u.position_side.value, "f": "GTC", "q": _d(u.quantity), "X": u.status,
        "ai": str(u.order_id) if u.order_id else "", "ap": "0", "aq": "0", "act": "0",
        "tp": _d(u.trigger_price, ""), "p": _d(u.price, ""), "V": "NONE",
        "wt": u.working_type.value if u.working_type else "CONTRACT_PRICE", "pm": "NONE", "cp": u.close_position,
        "pP": False, "R": u.reduce_only, "tt": 0, "gtd": 0, "rm": u.reason or "",
    }  # fmt: skip
    return {"e": "ALGO_UPDATE", "E": event_time or u.time, "T": u.time, "o": o}


def listen_key_expired(listen_key: str, time: int) -> dict[str, Any]:
    return {"e": "listenKeyExpired", "E": time, "listenKey": listen_key}


# -- market streams ------------------------------------------------------------------------------


def agg_trade(t: Trade) -> dict[str, Any]:
    first = t.first_trade_id if getattr(t, "first_trade_id", None) is not None else t.trade_id
    last = t.last_trade_id if getattr(t, "last_trade_id", None) is not None else t.trade_id
    return {"e": "aggTrade", "E": t.time, "s": t.symbol, "a": t.trade_id, "p": _d(t.price), "q": _d(t.qty),
            "f": first, "l": last, "T": t.time, "m": t.is_buyer_maker}  # fmt: skip


def mark_price_update(m: MarkPrice, market: Market = Market.USDM) -> dict[str, Any]:
    out = {"e": "markPriceUpdate", "E": m.time, "s": m.symbol, "p": _d(m.mark_price),
           "i": _d(m.index_price or m.mark_price), "P": _d(m.mark_price), "r": _d(m.funding_rate),
           "T": m.next_funding_time or 0}  # fmt: skip
    return out


def book_ticker(b: BookTop, update_id: int = 1) -> dict[str, Any]:
    return {"e": "bookTicker", "u": update_id, "E": b.time, "T": b.time, "s": b.symbol, "b": _d(b.bid),
            "B": _d(b.bid_qty), "a": _d(b.ask), "A": _d(b.ask_qty)}  # fmt: skip


def kline(c: CandleClosed) -> dict[str, Any]:
    k = {"t": c.open_time, "T": c.close_time, "s": c.symbol, "i": c.timeframe, "f": 0, "L": 0, "o": _d(c.open),
         "c": _d(c.close), "h": _d(c.high), "l": _d(c.low), "v": _d(c.volume), "n": 0, "x": True, "q": "0",
         "V": "0", "Q": "0", "B": "0"}  # fmt: skip
    return {"e": "kline", "E": c.close_time, "s": c.symbol, "k": k}


def depth_update(
    symbol: str,
    time: int,
    first: int,
    last: int,
    prev: int,
    bids: list[tuple[Decimal, Decimal]],
    asks: list[tuple[Decimal, Decimal]],
) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": time, "T": time, "s": symbol, "U": first, "u": last, "pu": prev,
            "b": [[_d(p), _d(q)] for p, q in bids], "a": [[_d(p), _d(q)] for p, q in asks]}  # fmt: skip


def stream_name(event: object) -> str | None:
    """The stream a market event is published on (lowercase symbol, as Binance names them)."""
    symbol = getattr(event, "symbol", "").lower()
    if isinstance(event, Trade):
        return f"{symbol}@aggTrade"
    if isinstance(event, MarkPrice):
        return f"{symbol}@markPrice@1s"
    if isinstance(event, BookTop):
        return f"{symbol}@bookTicker"
    if isinstance(event, CandleClosed):
        return f"{symbol}@kline_{event.timeframe}"
    return None


def market_payload(event: object) -> dict[str, Any] | None:
    if isinstance(event, Trade):
        return agg_trade(event)
    if isinstance(event, MarkPrice):
        return mark_price_update(event)
    if isinstance(event, BookTop):
        return book_ticker(event)
    if isinstance(event, CandleClosed):
        return kline(event)
    return None


def user_payload(event: object) -> dict[str, Any] | None:
    if isinstance(event, OrderUpdate):
        return order_trade_update(event)
    if isinstance(event, AccountUpdate):
        return account_update(event)
    if isinstance(event, AlgoUpdate):
        return algo_update(event)
    return None


def is_conditional(order_type: OrderType) -> bool:
    return order_type in (OrderType.STOP, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT,
                          OrderType.TAKE_PROFIT_MARKET, OrderType.TRAILING_STOP_MARKET)  # fmt: skip
