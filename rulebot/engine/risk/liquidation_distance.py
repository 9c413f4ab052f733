"""Liquidation distance: an entry is cut so the liquidation price stays far enough from the mark."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from rulebot.core.intents import EnterIntent
from rulebot.engine.liquidation_guard import largest_entry
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


@lru_cache(maxsize=16)
def _percent(fraction: Decimal) -> str:
    """0.05 as "5%": the same few settings on every entry (a pure function of a Decimal)."""
    return f"{(fraction * 100).normalize():f}%"


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if view.brackets is None or view.holding is None:
        return None  # no bracket table to compute a liquidation price with
    inst = view.instrument
    allowed = largest_entry(
        inst,
        view.brackets,
        view.holding,
        draft.quantity,
        intent.side.sign,
        draft.price,
        view.mark_price,
        view.leverage,
        view.margin_type,
        risk.min_liquidation_distance,
    )
    need = _percent(risk.min_liquidation_distance)
    if allowed >= draft.quantity:
        return Verdict(
            "allow", "liquidation_distance", f"liquidation price at least {need} from the mark", draft.quantity
        )
    allowed = inst.round_qty(allowed, draft.order_type)
    if allowed <= 0:
        return Verdict(
            "reject",
            "liquidation_distance",
            f"any position this size would be liquidated less than "
            f"{need} from the mark price {view.mark_price}; lower the "
            "leverage or the size",
        )
    draft.quantity = allowed
    return Verdict(
        "resize",
        "liquidation_distance",
        f"size cut to {draft.quantity} to keep the liquidation price {need} from the mark",
        draft.quantity,
    )
