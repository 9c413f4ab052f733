"""Daily loss cap: no entries once today's loss reached the cap, nor one whose own fees would reach it.

At event time (`on_price`, and on an account update after a fill) it checks daily PnL, valued as
if every position were closed now at its mark by a market order, against the cap: a breach
cancels, flattens (or halts) and stops entries until 00:00 UTC. A filled daily-cap stop is a
breach too. The stops themselves are the engine's (engine/cap_stops.py)."""

from __future__ import annotations

from collections.abc import Sequence

from rulebot.core.enums import TimeInForce
from rulebot.core.intents import EnterIntent
from rulebot.engine.daily_cap import amount_text, round_trip_fees
from rulebot.engine.risk.event import Breach, GuardAct, GuardView, RefreshCapStops
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk

_GTX = TimeInForce.GTX  # a slow lookup on Python 3.11 (EnumType.__getattr__): every entry asks


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    if view.daily_loss_breached:
        return Verdict("reject", "daily_loss_cap", "the daily loss cap was reached today; no entries until 00:00 UTC")
    asset = view.instrument.margin_asset
    cap_shown = f" {amount_text(view.daily_loss_cap, asset)}" if view.daily_loss_cap is not None else ""
    return Verdict(
        "allow", "daily_loss_cap", f"daily PnL {amount_text(view.daily_pnl, asset)} within the cap{cap_shown}"
    )


def check_fees(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    """Runs last, on the final size and price."""
    if view.daily_loss_cap is None or view.fee_rates is None:
        return None
    # The fees are lost the moment the order fills (and again when it closes): an entry
    # whose own fees reach the cap would breach it with no price move at all.
    fees = round_trip_fees(view.instrument, draft.quantity, draft.price, view.fee_rates, draft.time_in_force is _GTX)
    if view.daily_pnl - fees <= -view.daily_loss_cap:
        asset = view.instrument.margin_asset
        return Verdict(
            "reject",
            "daily_loss_cap",
            f"daily PnL {amount_text(view.daily_pnl, asset)} less this entry's fees {amount_text(fees, asset)} "
            f"(to open and to close) would reach the cap {amount_text(view.daily_loss_cap, asset)}",
        )
    return None


def on_price(view: GuardView, symbol: str, fresh: bool) -> Sequence[GuardAct]:
    """The account was valued again: a breach of today's cap in any margin asset?"""
    assets = view.daily_assets()
    if assets is None:
        return ()
    refresh: tuple[GuardAct, ...] = (RefreshCapStops(),) if view.cap_stops_stale() else ()
    for asset in assets:
        cap = view.daily_cap(asset)
        if cap is None:
            continue
        pnl = view.daily_pnl_closed(asset)
        # A filled cap stop is a breach even when its trigger, rounded toward the market,
        # left a few cents of the cap unused.
        if pnl <= -cap or view.cap_stop_hit(asset):
            return (*refresh, Breach(asset, pnl, cap))
    return refresh
