"""The mandatory guards every intent passes before any order exists.

Each guard looks at one intent and the account as it is, and returns a `Verdict`: allow,
resize (with the new quantity) or reject, with a reason a person understands. Guards run in
the fixed order of `ENTRY_GUARDS`; a resize feeds the next guard; the first reject ends the
check. Every verdict, the allowing ones too, is returned for the journal. Exits are never
blocked by a guard that exists to stop new risk (stale data, daily loss, halt): closing must
always be possible.

Adding an entry guard is one new module here with a `check(draft, intent, view, risk)` and
one row in `ENTRY_GUARDS`. The guards that act on their own as events arrive (volatility
breaker, daily loss cap, margin ratio, protective stop) are rows of `PRICE_GUARDS`,
`ACCOUNT_GUARDS` and `CLOCK_GUARDS` (event.py): they read a `GuardView` and return acts that
the engine carries out. The order budget they all share is `order_rate.OrderBudget`.
"""

from __future__ import annotations

from rulebot.core.enums import OrderType
from rulebot.core.intents import EnterIntent
from rulebot.engine.risk import (
    daily_loss_cap,
    entry_price,
    exchange_filters,
    funding_guard,
    kill_switch,
    liquidation_distance,
    margin_ratio,
    max_open_orders,
    position_limits,
    protective_stop,
    rate_limiter,
    stale_data,
    volatility_breaker,
)
from rulebot.engine.risk.event import EventGuard, GuardAct, GuardMemory, GuardView
from rulebot.engine.risk.verdict import AccountView, CheckedEntry, Draft, EntryGuard, Verdict, VerdictKind
from rulebot.rulebook.guards import EffectiveRisk

__all__ = [
    "ACCOUNT_GUARDS",
    "CLOCK_GUARDS",
    "ENTRY_GUARDS",
    "PRICE_GUARDS",
    "AccountView",
    "CheckedEntry",
    "Draft",
    "EntryGuard",
    "EventGuard",
    "GuardAct",
    "GuardMemory",
    "GuardView",
    "RiskEngine",
    "Verdict",
    "VerdictKind",
]

# The order matters: cheap refusals of new risk first, then the price, then the size cuts
# (each on the size the one before left), then the exchange's own filters on the final order,
# and last the fees of exactly that order against the daily loss cap.
ENTRY_GUARDS: tuple[EntryGuard, ...] = (
    EntryGuard("kill_switch", kill_switch.check),
    EntryGuard("daily_loss_cap", daily_loss_cap.check),
    EntryGuard("stale_data", stale_data.check),
    EntryGuard("rate_limiter", rate_limiter.check),
    EntryGuard("max_open_orders", max_open_orders.check),
    EntryGuard("funding_guard", funding_guard.check),
    EntryGuard("entry_price", entry_price.check),
    # Before the size cuts: the IOC limit it turns a market entry into costs more than the market
    # order would (its open loss against the mark), and the cuts must size the order that is sent.
    EntryGuard("volatility_breaker", volatility_breaker.check),
    EntryGuard("position_limits", position_limits.check),
    EntryGuard("liquidation_distance", liquidation_distance.check),
    EntryGuard("lot_size", exchange_filters.check_lot),
    EntryGuard("exchange_filters", exchange_filters.check),
    EntryGuard("daily_loss_cap_fees", daily_loss_cap.check_fees),
)

# At every valuation price of a symbol (a mark price; a trade or a candle close without a mark
# stream; a price walked inside a candle), in this order.
PRICE_GUARDS: tuple[EventGuard, ...] = (
    EventGuard("volatility_breaker", volatility_breaker.on_price),
    EventGuard("daily_loss_cap", daily_loss_cap.on_price),
    EventGuard("max_margin_ratio", margin_ratio.check),
)
# After an account update caused by a fill (the wallet took the fee and the realized PnL).
ACCOUNT_GUARDS: tuple[EventGuard, ...] = (EventGuard("daily_loss_cap", daily_loss_cap.on_price),)
# When the clock passed a guard's deadline (per symbol).
CLOCK_GUARDS: tuple[EventGuard, ...] = (EventGuard("protective_stop", protective_stop.on_clock),)
_LIMIT = OrderType.LIMIT  # a slow lookup on Python 3.11 (EnumType.__getattr__): every entry asks


class RiskEngine:
    """Checks entries against the merged guard settings of the rulebook."""

    def __init__(self, risk: EffectiveRisk) -> None:
        self.risk = risk

    def check_entry(self, intent: EnterIntent, view: AccountView) -> CheckedEntry:
        """The entry rounded, resized or converted as the guards require — or refused."""
        verdicts: list[Verdict] = []
        draft = Draft.of(intent, view)
        for guard in ENTRY_GUARDS:
            verdict = guard.check(draft, intent, view, self.risk)
            if verdict is None:
                continue
            verdicts.append(verdict)
            if verdict.kind == "reject":
                return CheckedEntry(None, None, draft.order_type, draft.time_in_force, verdicts)
        price = draft.price if draft.order_type is _LIMIT else None
        return CheckedEntry(draft.quantity, price, draft.order_type, draft.time_in_force, verdicts)

    def clamp_leverage(self, requested: int) -> tuple[int, Verdict]:
        cap = self.risk.max_leverage
        if requested > cap:
            return cap, Verdict("resize", "max_leverage", f"leverage {requested}x clamped to {cap}x")
        return requested, Verdict("allow", "max_leverage", f"{requested}x is within {cap}x")
