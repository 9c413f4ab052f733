"""The mandatory guards every intent passes before any order exists.

Each guard looks at one intent and the account as it is, and returns a `Verdict`: allow,
resize (with the new quantity) or reject, with a reason a person understands. Guards run in
a fixed order; a resize feeds the next guard; the first reject ends the check. Every verdict,
the allowing ones too, is returned for the journal. Exits are never blocked by a guard that
exists to stop new risk (stale data, daily loss, halt): closing must always be possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from rulebot.core.enums import OrderType, Side, TimeInForce
from rulebot.core.instruments import Instrument, check_order
from rulebot.core.intents import EnterIntent
from rulebot.rulebook.guards import EffectiveRisk

VerdictKind = Literal["allow", "resize", "reject"]
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    guard: str
    reason: str
    quantity: Decimal | None = None  # the size after this guard

    @property
    def allowed(self) -> bool:
        return self.kind != "reject"


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the guards need to know about the account and the market at this moment."""

    time: int
    instrument: Instrument
    last_price: Decimal
    mark_price: Decimal
    equity: Decimal  # margin asset
    position_notional: Decimal  # current, margin asset, at mark
    position_side: str  # long / short / none
    open_orders: int
    last_data_time: int
    leverage: int
    halted: str | None  # why trading is halted, or None
    daily_loss_breached: bool
    daily_pnl: Decimal


class RiskEngine:
    """Checks entries against the merged guard settings of the rulebook."""

    def __init__(self, risk: EffectiveRisk) -> None:
        self.risk = risk

    def check_entry(self, intent: EnterIntent, view: AccountView) -> tuple[Decimal | None, Decimal | None, list[Verdict]]:
        """(quantity, price) rounded and allowed — or (None, None) when refused — and the verdicts."""
        verdicts: list[Verdict] = []
        r = self.risk
        inst = view.instrument
        qty = intent.quantity

        def reject(guard: str, reason: str) -> tuple[None, None, list[Verdict]]:
            verdicts.append(Verdict("reject", guard, reason))
            return None, None, verdicts

        if view.halted:
            return reject("kill_switch", f"trading is halted ({view.halted}); no new entries")
        if view.daily_loss_breached:
            return reject("daily_loss_cap", "the daily loss cap was reached today; no entries until 00:00 UTC")
        verdicts.append(Verdict("allow", "daily_loss_cap", f"daily PnL {view.daily_pnl:.2f} within the cap"))
        age = view.time - view.last_data_time
        if age > r.stale_after_ms:
            return reject("stale_data", f"market data is {age / 1000:.1f}s old (limit {r.stale_after_ms / 1000:g}s); "
                                        "no new entries on stale prices")
        if view.open_orders >= r.max_open_orders:
            return reject("max_open_orders", f"{view.open_orders} working orders already (limit {r.max_open_orders})")

        price = intent.price if intent.price is not None else view.last_price
        side = Side.BUY if intent.side == "long" else Side.SELL
        if intent.price is not None:
            price = inst.round_price(intent.price, side)  # a buy limit rounds down, a sell up
        if price <= 0 or view.mark_price <= 0:
            return reject("exchange_filters", "no valid price to size the order at")

        # Leverage: existing plus new notional may not exceed max_leverage x equity.
        if view.equity <= 0:
            return reject("max_leverage", "equity is not positive")
        adding = view.position_side in ("none", intent.side)
        if adding:
            cap = view.equity * min(r.max_leverage, view.leverage) - view.position_notional
            if r.max_position_notional is not None:
                cap_n = _margin_units(inst, r.max_position_notional, price) - view.position_notional
                if cap_n < cap:
                    cap = cap_n
                    cap_guard = "max_position_notional"
                else:
                    cap_guard = "max_leverage"
            else:
                cap_guard = "max_leverage"
            new_notional = abs(inst.notional(qty, price))
            if new_notional > cap:
                if cap <= 0:
                    return reject(cap_guard, "the position is already at the limit "
                                             f"({_describe_cap(cap_guard, r.max_leverage, view.leverage)})")
                qty = _qty_for_notional(inst, cap, price)
                verdicts.append(Verdict("resize", cap_guard,
                                        f"size cut to {qty} to stay within {_describe_cap(cap_guard, r.max_leverage, view.leverage)}",
                                        qty))
            else:
                verdicts.append(Verdict("allow", cap_guard, "within the leverage and notional limits", qty))

        order_type = OrderType.LIMIT if intent.order == "limit" else OrderType.MARKET
        rounded = inst.round_qty(qty, order_type)
        if rounded != qty:
            qty = rounded
        lot = inst.lot(order_type)
        if lot.max_qty > 0 and qty > lot.max_qty:
            qty = inst.round_qty(lot.max_qty, order_type)
            verdicts.append(Verdict("resize", "exchange_filters", f"size cut to the symbol's max quantity {lot.max_qty}", qty))
        if qty <= 0:
            return reject("exchange_filters", f"size rounds to zero at step {lot.step_size}")
        tif = TimeInForce(intent.time_in_force) if intent.time_in_force else (
            TimeInForce.GTC if order_type is OrderType.LIMIT else None)
        violations = check_order(
            inst, side=side, order_type=order_type, quantity=qty, mark_price=view.mark_price,
            price=price if order_type is OrderType.LIMIT else None, time_in_force=tif,
            open_orders=view.open_orders,
        )
        if violations:
            v = violations[0]
            return reject("exchange_filters", f"Binance would reject it: {v}")
        verdicts.append(Verdict("allow", "exchange_filters", "price and size pass the symbol's filters", qty))
        return qty, price if order_type is OrderType.LIMIT else None, verdicts

    def clamp_leverage(self, requested: int) -> tuple[int, Verdict]:
        cap = self.risk.max_leverage
        if requested > cap:
            return cap, Verdict("resize", "max_leverage", f"leverage {requested}x clamped to {cap}x")
        return requested, Verdict("allow", "max_leverage", f"{requested}x is within {cap}x")


def _margin_units(inst: Instrument, quote_amount: Decimal, price: Decimal) -> Decimal:
    """A quote-currency amount (USDT, or USD on COIN-M) in the margin asset."""
    return quote_amount / price if inst.is_inverse else quote_amount


def _qty_for_notional(inst: Instrument, notional: Decimal, price: Decimal) -> Decimal:
    if inst.is_inverse:
        qty = notional * price / inst.contract_size
    else:
        qty = notional / price
    return qty.quantize(Decimal(1).scaleb(-12), rounding=ROUND_DOWN)


def _describe_cap(guard: str, max_leverage: int, leverage: int) -> str:
    if guard == "max_position_notional":
        return "risk.max_position_notional"
    return f"{min(max_leverage, leverage)}x leverage on equity"
