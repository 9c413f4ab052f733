"""Kill switch: while trading is halted no entry goes out (exits still do, elsewhere)."""

from __future__ import annotations

from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if view.halted:
        return Verdict("reject", "kill_switch", f"trading is halted ({view.halted}); no new entries")
    return None
