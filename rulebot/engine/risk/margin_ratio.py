"""Margin-ratio guard (event time): a position whose margin ratio at mark, with brackets, passed
risk.max_margin_ratio is halved, or closed above CLOSE_ALL_RATIO. The engine throttles the check
and sends the exit; this module decides."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from rulebot.core.enums import MarginType
from rulebot.core.instruments import Instrument
from rulebot.core.margin import BracketTable, FloatBrackets, isolated_ratio_clearly_below
from rulebot.engine.liquidation_guard import Holding, position_margin_ratio
from rulebot.engine.portfolio import PositionState
from rulebot.engine.risk.verdict import Verdict

# Above this margin ratio the margin-ratio guard closes the whole position, not half of it.
CLOSE_ALL_RATIO = Decimal("0.95")
GUARD_COOLDOWN_MS = 10_000  # between two reductions by the margin-ratio guard


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
    if margin_type is MarginType.ISOLATED and isolated_ratio_clearly_below(
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
