"""The risk side of `rulebot status` (and the web page): per symbol the mark, the liquidation
price and its distance, the margin ratio; the guards with their limits; the day's loss cap.

Read-only views of the engine, computed when asked (never in the trading path). Plain JSON
values: Decimals as exact strings, ratios as strings too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rulebot.core.enums import MarginType, Rounding
from rulebot.core.margin import Position, UnderMaintenanceError, liquidation_price
from rulebot.engine.engine import Engine
from rulebot.engine.liquidation_guard import position_margin_ratio

ZERO = Decimal(0)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def symbol_risk(engine: Engine, symbol: str) -> dict[str, Any]:
    """Mark, liquidation price, its distance from the mark, margin ratio, data age."""
    market = engine.market(symbol)
    inst = engine.instruments[symbol]
    pos = engine.position(symbol)
    mark = market.mark
    out: dict[str, Any] = {
        "state": engine.symbol_state(symbol),
        "leverage": engine.leverage(symbol),
        "last": _s(market.last),
        "mark": _s(mark),
        "data_age_ms": max(0, engine.time - market.last_data_time) if market.last_data_time else None,
        "volatility_ratio": round(engine.volatility_ratio(symbol), 3),
        "volatility_tripped": engine.volatility_tripped(symbol),
        "liquidation_price": None,
        "liquidation_distance": None,
        "margin_ratio": None,
    }
    if pos.amount == 0 or not mark:
        return out
    margin_type = engine.book.margin_type
    holding = engine.holding(symbol)  # the same view the margin-ratio guard acts on
    table = engine.brackets[symbol]
    try:
        if margin_type is MarginType.ISOLATED:
            liq = liquidation_price(
                inst,
                table,
                [Position(pos.amount, pos.entry_price)],
                holding.isolated_wallet,
                margin_type=margin_type,
                mark_price=mark,
            )
        else:
            liq = liquidation_price(
                inst,
                table,
                [Position(pos.amount, pos.entry_price)],
                holding.cross_wallet,
                margin_type=margin_type,
                other_maint_margin=holding.other_maint,
                other_unrealized_pnl=holding.other_upnl,
                mark_price=mark,
            )
    except UnderMaintenanceError:
        liq = mark  # under maintenance already: the distance is zero
    if liq is not None:
        out["liquidation_price"] = str(inst.round_price(liq, Rounding.NEAREST)) if liq > 0 else str(liq)
        out["liquidation_distance"] = str(round(abs(mark - liq) / mark, 6))
    ratio = position_margin_ratio(inst, table, holding, mark, margin_type)
    out["margin_ratio"] = "inf" if ratio.is_infinite() else str(round(ratio, 6))
    return out


def risk_status(engine: Engine) -> dict[str, Any]:
    """Everything the page shows about risk, in one JSON-ready dict."""
    r = engine.book.risk
    caps: dict[str, dict[str, str]] = {}
    today = engine.today
    if today is not None:
        for asset, start in today.start_equity.items():
            cap = start * r.daily_loss_cap_fraction
            if r.daily_loss_cap_amount is not None:
                cap = min(cap, r.daily_loss_cap_amount)
            caps[asset] = {"start_equity": str(start), "cap": str(cap), "pnl": str(engine.daily_pnl(asset))}
    used = engine.orders_last_minute()
    return {
        "market": engine.book.market,
        "symbols": list(engine.book.symbols),
        "margin": engine.book.margin,
        "engine_time": engine.time,
        "risk": {s: symbol_risk(engine, s) for s in engine.symbol_names},
        "daily_loss": caps,
        "limits": {
            "daily_loss_cap_fraction": str(r.daily_loss_cap_fraction),
            "max_margin_ratio": str(r.max_margin_ratio),
            "min_liquidation_distance": str(r.min_liquidation_distance),
            "stale_after_ms": r.stale_after_ms,
            "max_orders_per_minute": r.max_orders_per_minute,
            "volatility_breaker": str(r.volatility_breaker),
        },
        "rate_budget": {"orders_last_minute": used, "max_per_minute": r.max_orders_per_minute},
        "working": [_working(rec) for rec in engine.open_orders()],
    }


def _working(record: Any) -> dict[str, Any]:
    cmd = record.command
    return {
        "client_order_id": record.client_order_id,
        "symbol": cmd.symbol,
        "purpose": record.purpose,
        "rule": record.rule,
        "side": cmd.side.value,
        "type": cmd.order_type.value,
        "quantity": _s(cmd.quantity),
        "price": _s(cmd.price),
        "trigger_price": _s(cmd.trigger_price),
        "close_position": bool(getattr(cmd, "close_position", False)),
        "status": record.algo_status or (record.status.value if record.status else "sent"),
    }
