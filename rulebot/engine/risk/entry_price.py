"""Entry price: a limit price rounds to the tick (a buy down, a sell up); no price, no order."""

from __future__ import annotations

from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if intent.price is not None:
        draft.price = view.instrument.round_price(intent.price, draft.side)
    if draft.price <= 0 or view.mark_price <= 0:
        return Verdict("reject", "exchange_filters", "no valid price to size the order at")
    return None
