"""Order budget: an entry is skipped once the last minute used the per-minute order budget."""

from __future__ import annotations

from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if view.orders_last_minute >= risk.max_orders_per_minute:
        return Verdict(
            "reject",
            "rate_limiter",
            f"{view.orders_last_minute} orders in the last minute "
            f"(budget {risk.max_orders_per_minute}/min); entry skipped",
        )
    return None
