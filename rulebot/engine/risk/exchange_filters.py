"""Exchange filters: the size rounds to the lot step and fits the symbol's maximum, and the
order passes every filter Binance would check, so the exchange never has to refuse it."""

from __future__ import annotations

from rulebot.core.enums import OrderType
from rulebot.core.intents import EnterIntent
from rulebot.core.order_filters import check_order
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk

_LIMIT = OrderType.LIMIT  # a slow lookup on Python 3.11 (EnumType.__getattr__): every entry asks


def check_lot(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    """Round the size down to the step and cut it to the symbol's maximum quantity."""
    inst = view.instrument
    rounded = inst.round_qty(draft.quantity, draft.order_type)
    if rounded != draft.quantity:  # an equal size keeps its digits: they show in the journal
        draft.quantity = rounded
    lot = inst.lot(draft.order_type)
    if lot.max_qty > 0 and draft.quantity > lot.max_qty:
        draft.quantity = inst.round_qty(lot.max_qty, draft.order_type)
        return Verdict(
            "resize", "exchange_filters", f"size cut to the symbol's max quantity {lot.max_qty}", draft.quantity
        )
    return None


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    inst = view.instrument
    if draft.quantity <= 0:
        return Verdict(
            "reject", "exchange_filters", f"size rounds to zero at step {inst.lot(draft.order_type).step_size}"
        )
    violations = check_order(
        inst,
        side=draft.side,
        order_type=draft.order_type,
        quantity=draft.quantity,
        mark_price=view.mark_price,
        price=draft.price if draft.order_type is _LIMIT else None,
        time_in_force=draft.time_in_force,
        open_orders=view.open_orders,
    )
    if violations:
        return Verdict("reject", "exchange_filters", f"Binance would reject it: {violations[0]}")
    return Verdict("allow", "exchange_filters", "price and size pass the symbol's filters", draft.quantity)
