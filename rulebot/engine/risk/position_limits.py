"""Position limits: existing plus new notional may not exceed max_leverage x equity, nor
risk.max_position_notional; an entry that would is cut to what fits."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from rulebot.core.enums import OrderType, Side
from rulebot.core.instruments import Instrument
from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk

MARKET_BUY_BUFFER = Decimal("0.0005")  # the cost FAQ's ask[0] * (1 + 0.05%) for market buys
_MARKET, _BUY = OrderType.MARKET, Side.BUY  # slow lookups on Python 3.11 (EnumType.__getattr__)


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    inst, price = view.instrument, draft.price
    if view.equity <= 0:
        return Verdict("reject", "max_leverage", "equity is not positive")
    if view.position_direction not in (None, intent.side):
        return None  # reducing or reversing: the cap is for adding risk
    cap = view.equity * min(risk.max_leverage, view.leverage) - view.position_notional
    cap_guard = "max_leverage"
    if risk.max_position_notional is not None:
        cap_n = _margin_units(inst, risk.max_position_notional, price) - view.position_notional
        if cap_n < cap:
            cap, cap_guard = cap_n, "max_position_notional"
    new_notional = abs(inst.notional(draft.quantity, price))
    if new_notional <= cap:
        return Verdict("allow", cap_guard, "within the leverage and notional limits", draft.quantity)
    described = _describe_cap(cap_guard, risk.max_leverage, view.leverage)
    if cap <= 0:
        return Verdict("reject", cap_guard, f"the position is already at the limit ({described})")
    if draft.order_type is _MARKET and draft.side is _BUY and not inst.is_inverse:
        # Binance costs a market buy at a = ask * (1 + 0.05%) plus the open loss a - mark per unit
        # (exchange_sim/order_cost.py): sized to the cap at the last price it would be refused
        # with -2019. Per unit it needs a / L + (a - price) of margin, so size at a + L * (a - price).
        lev = min(risk.max_leverage, view.leverage)
        assumed = price * (1 + MARKET_BUY_BUFFER)
        price = assumed + lev * (assumed - price)
    # On the lot step here, not only at lot_size: the journaled reason names the size the order
    # is sent with (as liquidation_distance does), not the cap's 12-digit quotient.
    fits = inst.round_qty(_qty_for_notional(inst, cap, price), draft.order_type)
    if fits <= 0:
        step = inst.lot(draft.order_type).step_size
        return Verdict("reject", cap_guard, f"the room left within {described} is less than one lot step ({step})")
    draft.quantity = fits
    return Verdict("resize", cap_guard, f"size cut to {draft.quantity} to stay within {described}", draft.quantity)


def _margin_units(inst: Instrument, quote_amount: Decimal, price: Decimal) -> Decimal:
    """A quote-currency amount (USDT, or USD on COIN-M) in the margin asset."""
    return quote_amount / price if inst.is_inverse else quote_amount


def _qty_for_notional(inst: Instrument, notional: Decimal, price: Decimal) -> Decimal:
    qty = notional * price / inst.contract_size if inst.is_inverse else notional / price
    return qty.quantize(Decimal(1).scaleb(-12), rounding=ROUND_DOWN)


def _describe_cap(guard: str, max_leverage: int, leverage: int) -> str:
    if guard == "max_position_notional":
        return "risk.max_position_notional"
    return f"{min(max_leverage, leverage)}x leverage on equity"
