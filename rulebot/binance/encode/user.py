"""User-data-stream events as Binance sends them (FACTS §10), one encoder per event type, and
`user_payload`, which picks the one for a core account event."""

from __future__ import annotations

from typing import Any

from rulebot.binance.encode.fields import MARGIN_TYPE_WORDS, dec, wire_name
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
from rulebot.core.enums import Market, WorkingType

# COIN-M adds the account alias `i` at the top and the order's margin asset `ma` (FACTS §10).

_ALIAS = "SfsR"


def _coin(symbol: str) -> str:
    """A COIN-M symbol's margin asset: the base coin (BTCUSD_PERP → BTC)."""
    return symbol.split("USD", 1)[0]


def _ws_tif(value: Any) -> str:
    # None is what the parser makes of GTE_GTC (TP/SL orders that live with a position).
    return "GTE_GTC" if value is None else wire_name(value)


def order_trade_update(u: OrderUpdate, event_time: int | None = None, market: Market = Market.USDM) -> dict[str, Any]:
    otype = wire_name(u.order_type)
    o: dict[str, Any] = {
        "s": u.symbol,
        "c": u.client_order_id,
        "S": u.side.value,
        "o": otype,
        "f": _ws_tif(u.time_in_force),
        "q": dec(u.quantity),
        "p": dec(u.price),
        "ap": dec(u.average_price),
        "sp": dec(u.trigger_price),
        "x": u.execution_type,
        "X": u.status.value,
        "i": u.order_id,
        "l": dec(u.last_filled_qty),
        "z": dec(u.filled_qty),
        "L": dec(u.last_filled_price),
    }
    if market is Market.COINM:
        o["ma"] = _coin(u.symbol)
    if u.commission_asset:  # Binance leaves both out when the update carries no commission
        o["N"], o["n"] = u.commission_asset, dec(u.commission)
    o.update(
        {
            "T": u.time,
            "t": u.trade_id or 0,
            "b": "0",
            "a": "0",
            "m": u.is_maker,
            "R": u.reduce_only,
            "wt": (u.working_type or WorkingType.CONTRACT_PRICE).value,
            "ot": otype,
            "ps": u.position_side.value,
            "cp": False,
            "AP": "0",
            "cr": "0",
            "pP": False,
        }
    )
    if market is Market.USDM:
        o.update({"si": 0, "ss": 0})
    o.update({"rp": dec(u.realized_pnl), "V": "EXPIRE_MAKER", "pm": "NONE"})
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
        {"a": b.asset, "wb": dec(b.wallet_balance), "cw": dec(b.cross_wallet_balance), "bc": dec(b.balance_change)}
        for b in u.balances
    ]
    positions = [
        {
            "s": p.symbol,
            "pa": dec(p.amount),
            "ep": dec(p.entry_price),
            "bep": dec(p.break_even_price),
            "cr": dec(p.realized_pnl),
            "up": dec(p.unrealized_pnl),
            "mt": MARGIN_TYPE_WORDS[p.margin_type],
            "iw": dec(p.isolated_wallet),
            "ps": p.position_side.value,
        }
        for p in u.positions
    ]
    out: dict[str, Any] = {"e": "ACCOUNT_UPDATE", "E": event_time or u.time, "T": u.time}
    if market is Market.COINM:
        out["i"] = _ALIAS
    out["a"] = {"m": u.reason, "B": balances, "P": positions}
    return out


def algo_update(u: AlgoUpdate, event_time: int | None = None) -> dict[str, Any]:
    o = {
        "caid": u.client_algo_id,
        "aid": u.algo_id,
        "at": "CONDITIONAL",
        "o": wire_name(u.order_type),
        "s": u.symbol,
        "S": u.side.value,
        "ps": u.position_side.value,
        "f": "GTC",
        "q": dec(u.quantity),
        "X": u.status,
        "ai": str(u.order_id) if u.order_id else "",
        "ap": "0",
        "aq": "0",
        "act": "0",
        "tp": dec(u.trigger_price),
        "p": dec(u.price),
        "V": "EXPIRE_MAKER",
        "wt": (u.working_type or WorkingType.CONTRACT_PRICE).value,
        "pm": "NONE",
        "cp": u.close_position,
        "pP": False,
        "R": u.reduce_only,
        "tt": 0,
        "gtd": 0,
        "rm": u.reason or "",
    }
    return {"e": "ALGO_UPDATE", "T": u.time, "E": event_time or u.time, "o": o}


def trade_lite(t: TradeLite, event_time: int | None = None) -> dict[str, Any]:
    return {
        "e": "TRADE_LITE",
        "E": event_time or t.time,
        "T": t.time,
        "s": t.symbol,
        "q": dec(t.quantity),
        "p": dec(t.price),
        "m": t.is_maker,
        "c": t.client_order_id,
        "S": t.side.value,
        "L": dec(t.last_filled_price),
        "l": dec(t.last_filled_qty),
        "t": t.trade_id,
        "i": t.order_id,
    }


def margin_call(m: MarginCalls) -> dict[str, Any]:
    # MarginCall keeps neither margin type nor isolated wallet nor unrealized PnL: sent as a
    # cross position's would be.
    positions = [
        {
            "s": c.symbol,
            "ps": c.position_side.value,
            "pa": dec(c.amount),
            "mt": "CROSSED",
            "iw": "0",
            "mp": dec(c.mark_price),
            "up": "0",
            "mm": dec(c.maintenance_margin),
        }
        for c in m.calls
    ]
    out: dict[str, Any] = {"e": "MARGIN_CALL", "E": m.time}
    if m.cross_wallet_balance is not None:
        out["cw"] = dec(m.cross_wallet_balance)
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
