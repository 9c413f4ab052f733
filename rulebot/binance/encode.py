"""Core values as Binance's JSON: what the fake exchange sends, in the real payloads' shapes.

Each stream encoder mirrors one payload in `../shared/binance/payloads/` key for key (COIN-M's
user events add `i` and `ma`, as Binance's do); a test compares every one with its payload and
round-trips it through the project's own parsers. Decimals are printed as Binance prints them
(strings), booleans as JSON booleans. Fields a core value does not carry get Binance's neutral
value ("0", false, "NONE").
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rulebot.binance.payloads.market import DepthUpdate, Liquidation
from rulebot.binance.payloads.orders import AlgoOrderView, OrderView
from rulebot.binance.payloads.user import (
    ListenKeyExpired,
    MarginCalls,
    MultiAssetsModeChanged,
    TradeLite,
)
from rulebot.core.account_events import (
    AccountUpdate,
    AlgoUpdate,
    LeverageChanged,
    MarginCall,
    OrderUpdate,
)
from rulebot.core.enums import MarginType, Market, OrderType, WorkingType
from rulebot.core.events import BookTop, CandleClosed, MarkPrice, Trade
from rulebot.exchange_sim.model import BalanceView, PositionView


def _d(value: Decimal | None, zero: str = "0") -> str:
    return zero if value is None else format(value, "f")


def _tif(value: Any) -> str:
    return "GTC" if value is None else str(getattr(value, "value", value))


def _type(value: Any) -> str:
    return str(getattr(value, "value", value))


# -- REST ----------------------------------------------------------------------------------------


def order_json(o: OrderView) -> dict[str, Any]:
    return {
        "orderId": o.order_id, "symbol": o.symbol, "status": o.status.value,
        "clientOrderId": o.client_order_id, "price": _d(o.price), "avgPrice": _d(o.average_price),
        "origQty": _d(o.quantity), "executedQty": _d(o.filled_qty),
        "cumQty": _d(o.filled_qty), "cumQuote": _d(o.cum_quote),
        "timeInForce": _tif(o.time_in_force), "type": _type(o.order_type),
        "origType": _type(o.order_type),
        "reduceOnly": o.reduce_only, "closePosition": o.close_position, "side": o.side.value,
        "positionSide": o.position_side.value, "stopPrice": _d(o.trigger_price),
        "workingType": _type(o.working_type or WorkingType.CONTRACT_PRICE), "priceProtect": o.price_protect,
        "activatePrice": _d(o.activation_price, ""), "priceRate": _d(o.callback_rate, ""),
        "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
        "time": o.time, "updateTime": o.time,
    }  # fmt: skip


def algo_json(a: AlgoOrderView) -> dict[str, Any]:
    return {
        "algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "algoType": "CONDITIONAL",
        "orderType": _type(a.order_type), "symbol": a.symbol, "side": a.side.value,
        "positionSide": a.position_side.value, "timeInForce": _tif(a.time_in_force),
        "quantity": _d(a.quantity), "algoStatus": a.status,
        "triggerPrice": _d(a.trigger_price, ""), "price": _d(a.price, ""),
        "icebergQuantity": None, "selfTradePreventionMode": "NONE",
        "workingType": _type(a.working_type or WorkingType.CONTRACT_PRICE), "priceMatch": "NONE",
        "closePosition": a.close_position, "priceProtect": a.price_protect, "reduceOnly": a.reduce_only,
        "activatePrice": _d(a.activation_price, ""), "callbackRate": _d(a.callback_rate, ""),
        "createTime": a.create_time, "updateTime": a.create_time, "triggerTime": 0, "goodTillDate": 0,
    }  # fmt: skip


def position_json(p: PositionView) -> dict[str, Any]:
    return {
        "symbol": p.symbol, "positionSide": p.position_side.value, "positionAmt": _d(p.amount),
        "entryPrice": _d(p.entry_price), "breakEvenPrice": _d(p.break_even_price),
        "markPrice": _d(p.mark_price),
        "unRealizedProfit": _d(p.unrealized_pnl), "liquidationPrice": _d(p.liquidation_price),
        "leverage": str(p.leverage), "maxNotionalValue": _d(p.max_notional),
        "marginType": "isolated" if p.margin_type is MarginType.ISOLATED else "cross",
        "isolatedMargin": _d(p.isolated_margin), "isAutoAddMargin": "false",
        "notional": _d(p.notional),
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
# COIN-M adds the account alias `i` at the top and the order's margin asset `ma` (FACTS §10).

_ALIAS = "SfsR"


def _coin(symbol: str) -> str:
    """A COIN-M symbol's margin asset: the base coin (BTCUSD_PERP → BTC)."""
    return symbol.split("USD", 1)[0]


def _ws_tif(value: Any) -> str:
    # None is what the parser makes of GTE_GTC (TP/SL orders that live with a position).
    return "GTE_GTC" if value is None else _type(value)


def _margin_type(mt: MarginType) -> str:
    return "isolated" if mt is MarginType.ISOLATED else "cross"


def order_trade_update(u: OrderUpdate, event_time: int | None = None, market: Market = Market.USDM) -> dict[str, Any]:
    otype = _type(u.order_type)
    o: dict[str, Any] = {
        "s": u.symbol, "c": u.client_order_id, "S": u.side.value, "o": otype,
        "f": _ws_tif(u.time_in_force), "q": _d(u.quantity), "p": _d(u.price),
        "ap": _d(u.average_price), "sp": _d(u.trigger_price), "x": u.execution_type,
        "X": u.status.value, "i": u.order_id, "l": _d(u.last_filled_qty), "z": _d(u.filled_qty),
        "L": _d(u.last_filled_price),
    }  # fmt: skip
    if market is Market.COINM:
        o["ma"] = _coin(u.symbol)
    if u.commission_asset:  # Binance leaves both out when the update carries no commission
        o["N"], o["n"] = u.commission_asset, _d(u.commission)
    o.update({
        "T": u.time, "t": u.trade_id or 0, "b": "0", "a": "0", "m": u.is_maker, "R": u.reduce_only,
        "wt": (u.working_type or WorkingType.CONTRACT_PRICE).value, "ot": otype,
        "ps": u.position_side.value, "cp": False, "AP": "0", "cr": "0", "pP": False,
    })  # fmt: skip
    if market is Market.USDM:
        o.update({"si": 0, "ss": 0})
    o.update({"rp": _d(u.realized_pnl), "V": "EXPIRE_MAKER", "pm": "NONE"})
    if market is Market.USDM:
        o["gtd"] = 0
    o["er"] = str(u.reject_code or 0)
    out: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "E": event_time or u.time, "T": u.time}
    if market is Market.COINM:
        out["i"] = _ALIAS
    out["o"] = o
    return out


def account_update(u: AccountUpdate, event_time: int | None = None, market: Market = Market.USDM) -> dict[str, Any]:
    balances = [
        {"a": b.asset, "wb": _d(b.wallet_balance), "cw": _d(b.cross_wallet_balance),
         "bc": _d(b.balance_change)}
        for b in u.balances
    ]  # fmt: skip
    positions = [
        {"s": p.symbol, "pa": _d(p.amount), "ep": _d(p.entry_price), "bep": _d(p.break_even_price),
         "cr": _d(p.realized_pnl), "up": _d(p.unrealized_pnl), "mt": _margin_type(p.margin_type),
         "iw": _d(p.isolated_wallet), "ps": p.position_side.value}
        for p in u.positions
    ]  # fmt: skip
    out: dict[str, Any] = {"e": "ACCOUNT_UPDATE", "E": event_time or u.time, "T": u.time}
    if market is Market.COINM:
        out["i"] = _ALIAS
    out["a"] = {"m": u.reason, "B": balances, "P": positions}
    return out


def algo_update(u: AlgoUpdate, event_time: int | None = None) -> dict[str, Any]:
    o = {
        "caid": u.client_algo_id, "aid": u.algo_id, "at": "CONDITIONAL", "o": _type(u.order_type),
        "s": u.symbol, "S": u.side.value, "ps": u.position_side.value, "f": "GTC",
        "q": _d(u.quantity), "X": u.status, "ai": str(u.order_id) if u.order_id else "",
        "ap": "0", "aq": "0", "act": "0", "tp": _d(u.trigger_price), "p": _d(u.price),
        "V": "EXPIRE_MAKER", "wt": (u.working_type or WorkingType.CONTRACT_PRICE).value,
        "pm": "NONE", "cp": u.close_position, "pP": False, "R": u.reduce_only, "tt": 0, "gtd": 0,
        "rm": u.reason or "",
    }  # fmt: skip
    return {"e": "ALGO_UPDATE", "T": u.time, "E": event_time or u.time, "o": o}


def trade_lite(t: TradeLite, event_time: int | None = None) -> dict[str, Any]:
    return {
        "e": "TRADE_LITE", "E": event_time or t.time, "T": t.time, "s": t.symbol,
        "q": _d(t.quantity), "p": _d(t.price), "m": t.is_maker, "c": t.client_order_id,
        "S": t.side.value, "L": _d(t.last_filled_price), "l": _d(t.last_filled_qty),
        "t": t.trade_id, "i": t.order_id,
    }  # fmt: skip


def margin_call(m: MarginCalls) -> dict[str, Any]:
    # MarginCall keeps neither margin type nor isolated wallet nor unrealized PnL: sent as a
    # cross position's would be.
    positions = [
        {"s": c.symbol, "ps": c.position_side.value, "pa": _d(c.amount), "mt": "CROSSED",
         "iw": "0", "mp": _d(c.mark_price), "up": "0", "mm": _d(c.maintenance_margin)}
        for c in m.calls
    ]  # fmt: skip
    out: dict[str, Any] = {"e": "MARGIN_CALL", "E": m.time}
    if m.cross_wallet_balance is not None:
        out["cw"] = _d(m.cross_wallet_balance)
    out["p"] = positions
    return out


def account_config_update(u: LeverageChanged | MultiAssetsModeChanged, event_time: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"e": "ACCOUNT_CONFIG_UPDATE", "E": event_time or u.time, "T": u.time}
    if isinstance(u, LeverageChanged):
        out["ac"] = {"s": u.symbol, "l": u.leverage}
    else:
        out["ai"] = {"j": u.enabled}
    return out


def listen_key_expired(listen_key: str, time: int) -> dict[str, Any]:
    return {"e": "listenKeyExpired", "E": time, "listenKey": listen_key}


def user_payload(event: object, market: Market = Market.USDM) -> dict[str, Any] | None:
    """The user-stream frame for an account event; None for what the user stream never sends."""
    if isinstance(event, OrderUpdate):
        return order_trade_update(event, market=market)
    if isinstance(event, AccountUpdate):
        return account_update(event, market=market)
    if isinstance(event, AlgoUpdate):
        return algo_update(event)
    if isinstance(event, TradeLite):
        return trade_lite(event)
    if isinstance(event, MarginCalls):
        return margin_call(event)
    if isinstance(event, MarginCall):
        return margin_call(MarginCalls((event,), None, event.time))
    if isinstance(event, LeverageChanged | MultiAssetsModeChanged):
        return account_config_update(event)
    if isinstance(event, ListenKeyExpired):
        return listen_key_expired(event.listen_key, event.time)
    return None


# -- market streams ------------------------------------------------------------------------------


def agg_trade(t: Trade, event_time: int | None = None) -> dict[str, Any]:
    first = t.trade_id if t.first_trade_id is None else t.first_trade_id
    last = t.trade_id if t.last_trade_id is None else t.last_trade_id
    return {
        "e": "aggTrade", "E": event_time or t.time, "s": t.symbol, "a": t.trade_id,
        "p": _d(t.price), "q": _d(t.qty), "nq": _d(t.qty), "f": first, "l": last, "T": t.time,
        "m": t.is_buyer_maker,
    }  # fmt: skip


def mark_price_update(m: MarkPrice, market: Market = Market.USDM) -> dict[str, Any]:
    # Delivery contracts have no funding: Binance sends r "" and T 0.
    return {
        "e": "markPriceUpdate", "E": m.time, "s": m.symbol, "p": _d(m.mark_price),
        "ap": _d(m.mark_price), "i": _d(m.index_price, ""), "P": _d(m.mark_price),
        "r": _d(m.funding_rate, ""), "T": m.next_funding_time or 0,
    }  # fmt: skip


def book_ticker(b: BookTop, update_id: int | None = None) -> dict[str, Any]:
    return {
        "e": "bookTicker", "u": b.update_id if update_id is None else update_id, "E": b.time,
        "T": b.time, "s": b.symbol, "b": _d(b.bid), "B": _d(b.bid_qty), "a": _d(b.ask),
        "A": _d(b.ask_qty),
    }  # fmt: skip


def _kline_body(c: CandleClosed, closed: bool) -> dict[str, Any]:
    return {
        "t": c.open_time, "T": c.close_time, "s": c.symbol, "i": c.timeframe, "f": 0, "L": 0,
        "o": _d(c.open), "c": _d(c.close), "h": _d(c.high), "l": _d(c.low), "v": _d(c.volume),
        "n": c.trades, "x": closed, "q": _d(c.quote_volume), "V": _d(c.taker_buy_volume),
        "Q": "0", "B": "0",
    }  # fmt: skip


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
        "e": "depthUpdate", "E": time, "T": time, "s": symbol, "U": first, "u": last, "pu": prev,
        "b": [[_d(p), _d(q)] for p, q in bids], "a": [[_d(p), _d(q)] for p, q in asks],
    }  # fmt: skip


def depth_diff(d: DepthUpdate) -> dict[str, Any]:
    out = depth_update(d.symbol, d.time, d.first_update_id, d.final_update_id,
                       d.prev_final_update_id, d.bids, d.asks)  # fmt: skip
    out["T"] = d.transaction_time
    return out


def force_order(x: Liquidation, event_time: int | None = None) -> dict[str, Any]:
    o = {
        "s": x.symbol, "S": x.side.value, "o": x.order_type, "f": x.time_in_force,
        "q": _d(x.quantity), "p": _d(x.price), "ap": _d(x.average_price), "X": x.status.value,
        "l": _d(x.last_filled_qty), "z": _d(x.filled_qty), "T": x.time,
    }  # fmt: skip
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


def is_conditional(order_type: OrderType) -> bool:
    return order_type in (OrderType.STOP, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT,
                          OrderType.TAKE_PROFIT_MARKET, OrderType.TRAILING_STOP_MARKET)  # fmt: skip
