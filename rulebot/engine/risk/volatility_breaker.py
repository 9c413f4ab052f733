"""Volatility breaker: while tripped, a market entry goes out as an IOC limit inside a price band.

At event time (`on_price`) it notes when it trips or clears, and on tripping the optional
auto-reduce policy (risk.volatility_reduce) cuts an open position once per spike."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rulebot.core.enums import OrderType, Side, TimeInForce
from rulebot.core.intents import EnterIntent
from rulebot.engine.risk.event import GuardAct, GuardView, Note, ReducePosition
from rulebot.engine.risk.verdict import AccountView, Draft, Verdict
from rulebot.rulebook.guards import EffectiveRisk

# While the breaker is tripped, a market order becomes an IOC limit this far through the last price.
VOLATILITY_BAND = Decimal("0.005")
_MARKET = OrderType.MARKET  # a slow lookup on Python 3.11 (EnumType.__getattr__): every entry asks


def check(draft: Draft, intent: EnterIntent, view: AccountView, risk: EffectiveRisk) -> Verdict | None:
    tripped = view.volatility_ratio > float(risk.volatility_breaker)  # a NaN ratio never trips it
    if draft.order_type is not _MARKET or not tripped:
        return None
    band = VOLATILITY_BAND
    limit = view.last_price * (1 + band) if draft.side is Side.BUY else view.last_price * (1 - band)
    draft.price = view.instrument.round_price(limit, draft.side)
    draft.order_type, draft.time_in_force = OrderType.LIMIT, TimeInForce.IOC
    return Verdict(
        "resize",
        "volatility_breaker",
        f"volatility {view.volatility_ratio:.1f}x its baseline: market order sent as an "
        f"IOC limit at {draft.price} ({(band * 100).normalize():f}% band)",
        draft.quantity,
    )


def breaker_note(ratio: float, spiking: bool) -> str:
    """What the engine notes when the breaker trips (`spiking`) or clears (event time)."""
    if not spiking:
        return "volatility is back under the breaker: market orders allowed"
    return f"short-term volatility {ratio:.1f}x its baseline: market entries become banded IOC limits"


def reduce_verdict(ratio: float, share: Decimal) -> Verdict:
    """Why the breaker's optional auto-reduce (risk.volatility_reduce) cuts an open position."""
    return Verdict(
        "act",
        "volatility_breaker",
        f"volatility {ratio:.1f}x its baseline: position cut by {share * 100:.0f}% (risk.volatility_reduce)",
    )


def tripped_at(ratio: float, risk: EffectiveRisk) -> bool:
    """The breaker is tripped at this volatility ratio (a NaN ratio never trips it)."""
    return ratio > float(risk.volatility_breaker)


def on_price(view: GuardView, symbol: str, fresh: bool) -> Sequence[GuardAct]:
    """A new price in the symbol's volatility meter: note a trip or a clear; cut on a trip.
    Acts exactly when `tripped_at` changed (the fast trade path asks that: engine/quiet_walk.py)."""
    if not fresh:
        return ()  # the ratio moves only with a new price: nothing to decide
    memory = view.memory(symbol)
    ratio = view.volatility_ratio(symbol)
    spiking = tripped_at(ratio, view.risk)
    if spiking == memory.volatility_tripped:
        return ()
    memory.volatility_tripped = spiking
    note = Note(symbol, "volatility-breaker", breaker_note(ratio, spiking))
    share = view.risk.volatility_reduce
    if not spiking or share is None or view.position(symbol).amount == 0:
        return (note,)
    return (note, ReducePosition(symbol, share, reduce_verdict(ratio, share)))
