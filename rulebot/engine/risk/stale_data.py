"""Stale data: no entries on old prices or while a stream is down."""

from __future__ import annotations

from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    # Against the later of the data clock and the receive clock: a feed that arrives late
    # carries old times that agree with each other, and only the receive time shows the lag.
    age = max(view.time, view.received) - view.last_data_time
    if age > risk.stale_after_ms:
        return Verdict(
            "reject",
            "stale_data",
            f"market data is {age / 1000:.1f}s old (limit {risk.stale_after_ms / 1000:g}s); "
            "no new entries on stale prices",
        )
    if view.streams_down:
        return Verdict(
            "reject",
            "stale_data",
            f"stream {', '.join(view.streams_down)} is disconnected; no new entries until it is back",
        )
    return None
