"""Margin-ratio guard (event time): a position whose margin ratio at mark, with brackets, passed
risk.max_margin_ratio is halved, or closed above CLOSE_ALL_RATIO; checked at most once a second,
and at most one reduction every GUARD_COOLDOWN_MS. This module decides; the engine sends the exit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial

from rulebot.core.enums import MarginType
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, FloatBrackets, isolated_ratio_clearly_below
from rulebot.engine.liquidation_guard import Holding, position_margin_ratio
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk.event import GUARD_COOLDOWN_MS, GuardAct, GuardMemory, GuardView, ReducePosition
from rulebot.engine.risk.verdict import Verdict

# Above this margin ratio the margin-ratio guard closes the whole position, not half of it.
CLOSE_ALL_RATIO = Decimal("0.95")
CHECK_EVERY_MS = 1000
_ISOLATED = MarginType.ISOLATED  # a slow lookup on Python 3.11 (EnumType.__getattr__): checked at every price
__all__ = ["CLOSE_ALL_RATIO", "GUARD_COOLDOWN_MS", "check", "margin_ratio_exit", "pass_idle"]


def check(view: GuardView, symbol: str, fresh: bool) -> Sequence[GuardAct]:
    """At a valuation price: reduce the symbol's position when its margin ratio passed the limit."""
    memory, now = view.memory(symbol), view.time
    if now - memory.last_margin_check < CHECK_EVERY_MS:
        return ()
    memory.last_margin_check = now
    mark = view.mark(symbol)
    # Within the cooldown after a halving only a close of the whole position may follow: halving an isolated
    # position leaves its margin ratio (and liquidation price) where it was, so the rest goes on toward
    # liquidation, and waiting 10 s to close it above CLOSE_ALL_RATIO let it be liquidated first.
    cooling = now - memory.last_guard_reduce < GUARD_COOLDOWN_MS
    if mark is None or (cooling and memory.last_guard_closed_all):
        return ()
    acts: list[ReducePosition] = []
    for pos in view.legs(symbol):  # hedge mode: each leg has its own margin ratio (a short leg's too)
        reduce = margin_ratio_exit(
            view.instrument(symbol),
            view.brackets(symbol),
            view.float_brackets(symbol),
            pos,
            mark,
            view.margin_type,
            view.risk.max_margin_ratio,
            partial(view.holding, symbol, pos.position_side),
        )
        if reduce is not None and not (cooling and reduce[0] is not None):
            share, verdict = reduce
            acts.append(ReducePosition(symbol, share, verdict, pos.position_side))
    if acts:
        memory.last_guard_reduce = now
        memory.last_guard_closed_all = all(act.share is None for act in acts)
    return acts


def pass_idle(memory: GuardMemory, now: int) -> None:
    """What `check` leaves behind at `now` where the caller has shown it acts nowhere (the fast
    backtest paths: the margin ratio clearly below its limit): only its once-a-second throttle."""
    if now - memory.last_margin_check >= CHECK_EVERY_MS:
        memory.last_margin_check = now


def margin_ratio_exit(
    inst: Instrument,
    brackets: BracketTable,
    float_brackets: FloatBrackets,
    pos: PositionState,
    mark: Decimal,
    margin_type: MarginType,
    limit: Decimal,
    holding: Callable[[], Holding],
) -> tuple[Decimal | None, Verdict] | None:
    """The share of the position to close (None: all of it) and why, or None when the ratio is within the limit."""
    # The float pre-check skips the exact Decimal ratio on nearly every mark price of a healthy position.
    if margin_type is _ISOLATED and isolated_ratio_clearly_below(
        inst, float_brackets, pos.amount, pos.entry_price, pos.isolated_wallet, mark, float(limit)
    ):
        return None
    ratio = position_margin_ratio(inst, brackets, holding(), mark, margin_type)
    if ratio <= limit:
        return None
    close_all = ratio >= CLOSE_ALL_RATIO
    shown = "over 100%" if ratio.is_infinite() else f"{ratio * 100:.1f}%"
    verdict = Verdict(
        "act",
        "max_margin_ratio",
        f"margin ratio {shown} at mark {mark} passed {limit * 100:.0f}%: "
        + ("closing the position" if close_all else "reducing the position by half"),
    )
    return (None if close_all else Decimal("0.5")), verdict
