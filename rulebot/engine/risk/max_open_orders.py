"""Working-order limit: no entry while the symbol already has the most working orders allowed."""

from __future__ import annotations

from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if view.open_orders >= risk.max_open_orders:
        return Verdict(
            "reject", "max_open_orders", f"{view.open_orders} working orders already (limit {risk.max_open_orders})"
        )
    return None
