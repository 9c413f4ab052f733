"""Daily loss cap: no entries once today's loss reached the cap, nor one whose own fees would reach it."""

from __future__ import annotations

from rulebot.core.enums import TimeInForce
from rulebot.core.intents import EnterIntent
from rulebot.engine.daily_cap import round_trip_fees
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if view.daily_loss_breached:
        return Verdict("reject", "daily_loss_cap", "the daily loss cap was reached today; no entries until 00:00 UTC")
    cap_shown = f" {view.daily_loss_cap:.2f}" if view.daily_loss_cap is not None else ""
    return Verdict("allow", "daily_loss_cap", f"daily PnL {view.daily_pnl:.2f} within the cap{cap_shown}")


def check_fees(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    """Runs last, on the final size and price."""
    if view.daily_loss_cap is None or view.fee_rates is None:
        return None
    # The fees are lost the moment the order fills (and again when it closes): an entry
    # whose own fees reach the cap would breach it with no price move at all.
    fees = round_trip_fees(
        view.instrument, draft.quantity, draft.price, view.fee_rates, draft.time_in_force is TimeInForce.GTX
    )
    if view.daily_pnl - fees <= -view.daily_loss_cap:
        return Verdict(
            "reject",
            "daily_loss_cap",
            f"daily PnL {view.daily_pnl:.2f} less this entry's fees {fees:.2f} (to open and to close) "
            f"would reach the cap {view.daily_loss_cap:.2f}",
        )
    return None
