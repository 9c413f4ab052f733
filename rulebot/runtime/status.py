"""What `rulebot status` shows of a running bot: positions, working orders, states, equity and
the day's PnL, guard states, recent reloads, each symbol's data age and each indicator's
warm-up. Plain JSON values (Decimals as exact strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rulebot.engine.engine import Engine


def engine_status(engine: Engine, now: int | None = None) -> dict[str, Any]:
    """`now`: the exchange's clock (ms) as the runner knows it, for the data's age."""
    positions = [
        {
            "symbol": p.symbol,
            "side": p.side,
            "size": str(p.size),
            "entry_price": str(p.entry_price),
            "upnl": str(engine.unrealized(p.symbol, p.position_side)),
        }
        for p in engine.open_positions()
    ]
    # A close-position stop has no quantity (it closes whatever is open): null and the flag, never
    # the text "None"; the trigger and limit prices are what a person checks a stop by.
    orders = [
        {
            "client_order_id": r.client_order_id,
            "symbol": r.command.symbol,
            "purpose": r.purpose,
            "rule": r.rule,
            "side": r.command.side.value,
            "type": r.command.order_type.value,
            "quantity": _dec(r.command.quantity),
            "close_position": r.command.close_position,
            "price": _dec(r.command.price),
            "trigger_price": _dec(r.command.trigger_price),
            "status": r.algo_status or (r.status.value if r.status else "sent"),
        }
        for r in engine.open_orders()
    ]
    assets = engine.assets
    return {
        "rulebook": engine.book.name,
        "version": engine.book.source_hash[:12],
        "states": engine.states(),
        "positions": positions,
        "orders": orders,
        "equity": {a: str(engine.equity(a)) for a in assets},
        "daily_pnl": {a: str(engine.daily_pnl(a)) for a in assets},
        "data": {s: _data(m.last_data_time, now) for s, m in engine.markets().items()},
        "warmup": {s: m.warmup() for s, m in engine.markets().items()},
        "guards": {
            "halted": engine.halted,
            "daily_loss_breached": engine.daily_breach_day is not None,
            "streams_down": sorted(engine.streams_down),
            "volatility_breaker": {s: engine.volatility_tripped(s) for s in engine.symbol_names},
        },
    }


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _data(last: int, now: int | None) -> dict[str, Any]:
    """How old the symbol's latest market data is: by the exchange's clock now (a lagging or
    silent feed shows here), None before any data."""
    if not last:
        return {"last_time": None, "age_s": None}
    if now is None:
        return {"last_time": last, "age_s": None}
    # A replay paced by --speed hands events over a little ahead of its clock: fresh, not from the future.
    return {"last_time": last, "age_s": round(max(0, now - last) / 1000, 3)}
