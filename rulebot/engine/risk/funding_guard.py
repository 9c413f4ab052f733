"""Funding guard: no entry on the side that would pay a large funding rate due soon."""

from __future__ import annotations

from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    rate, due = view.funding_rate, view.funding_in_ms
    if rate is None or due is None or due > risk.funding_guard_window_ms or due < 0:
        return None
    side = intent.side
    pays = rate * side.sign > 0  # longs pay a positive rate, shorts a negative one
    if not pays or abs(rate) < risk.funding_guard_rate:
        return None
    return Verdict(
        "reject",
        "funding_guard",
        f"funding of {(rate * 100).normalize():f}% is due in {due // 60_000}m{due // 1000 % 60:02d}s and a "
        f"{side.word} position would pay it (guard: {(risk.funding_guard_rate * 100).normalize():f}% within "
        f"{risk.funding_guard_window_ms // 60_000}m)",
    )
